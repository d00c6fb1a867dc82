// RelationService: the follow graph and its counts; lists hydrated with profiles from the user service.
import { type ServiceImplementation, Status } from "nice-grpc";
import { checkId, DomainError, invalidArgument as invalid, Reason } from "../../platform/errors.ts";
import type { RelatedUser, RelationServiceDefinition } from "../../proto/gen/dzug/relation/v1/relation.ts";
import type { UserProfile } from "../../proto/gen/dzug/user/v1/user.ts";
import {
  assertUserExists,
  checkViewer,
  latestMessages,
  type MessageClient,
  toFriendEntries,
  toStats,
  type UserClient,
  userNotFound,
} from "./hydrate.ts";
import type { RelationListPages } from "./list-pages.ts";
import { AlreadyFollowingError, NotFollowingError, type RelationStore } from "./store.ts";
import { listStreams } from "./streams.ts";

/** Upper bound of ids in one GetRelationStats call. */
export const STATS_MAX = 10_000;

/**
 * Lists are hydrated with GetUsers calls of this many ids (a ~100 KiB answer), a few in flight at
 * once: a list of any length stays far below GetUsers' cap and gRPC's message size limit per call.
 */
const HYDRATE_BATCH = 1_000;
const HYDRATE_PARALLEL = 4;

export function relationService(deps: {
  store: RelationStore;
  users: UserClient;
  /** The newest message of each friend's conversation with the viewer: one batched call per list. */
  messages: MessageClient;
  /** The streamed lists' pages (keyset-paginated reads of the same tables). */
  pages: RelationListPages;
  /** The most entries one unpaged list answers (config `lists.maxLength`): the newest ones. */
  maxListLength: number;
  /** Entries per streamed page (config `lists.pageSize`). */
  pageSize: number;
  /** Lists streaming at once (config `lists.maxConcurrentStreams`). */
  maxConcurrentStreams: number;
}): ServiceImplementation<typeof RelationServiceDefinition> {
  const { store, users, messages, maxListLength: max } = deps;
  const streams = listStreams({
    pages: deps.pages,
    store,
    users,
    messages,
    pageSize: deps.pageSize,
    maxConcurrent: deps.maxConcurrentStreams,
  });

  /** Profiles of `ids` from the user service, in batches of HYDRATE_BATCH, HYDRATE_PARALLEL at a time. */
  async function profilesOf(ids: number[], signal: AbortSignal): Promise<Map<number, UserProfile>> {
    const batches: number[][] = [];
    for (let i = 0; i < ids.length; i += HYDRATE_BATCH) batches.push(ids.slice(i, i + HYDRATE_BATCH));
    const byId = new Map<number, UserProfile>();
    let next = 0;
    const worker = async () => {
      while (next < batches.length) {
        const { users: profiles } = await users.getUsers({ ids: batches[next++]! }, { signal });
        for (const p of profiles) byId.set(p.id, p);
      }
    };
    await Promise.all(Array.from({ length: Math.min(HYDRATE_PARALLEL, batches.length) }, worker));
    return byId;
  }

  /** Profiles of `userId` (must exist) and `ids`, with stats seen by `viewerId`, in the order of `ids`. */
  async function hydrate(userId: number, ids: number[], viewerId: number, signal: AbortSignal): Promise<RelatedUser[]> {
    const [byId, stats] = await Promise.all([profilesOf([userId, ...ids], signal), store.stats(viewerId, ids, signal)]);
    if (!byId.has(userId)) throw userNotFound();
    const statsById = new Map(stats.map((s) => [s.userId, s]));
    const out: RelatedUser[] = [];
    for (const id of ids) {
      const profile = byId.get(id);
      if (!profile) continue; // a relation to an account that no longer exists
      out.push({ profile, stats: toStats(id, statsById.get(id)) });
    }
    return out;
  }

  return {
    ...streams,

    async follow({ followerId, followeeId }, ctx) {
      checkId(followerId, "follower_id");
      checkId(followeeId, "followee_id");
      if (followerId === followeeId)
        throw new DomainError(Status.INVALID_ARGUMENT, Reason.FOLLOW_SELF, "you cannot follow yourself");
      await assertUserExists(users, followeeId, ctx.signal);
      ctx.signal.throwIfAborted(); // the caller gave up: change nothing
      try {
        await store.follow(followerId, followeeId);
      } catch (err) {
        if (err instanceof AlreadyFollowingError)
          throw new DomainError(Status.ALREADY_EXISTS, Reason.ALREADY_FOLLOWING, "already following this user");
        throw err;
      }
      return {};
    },

    async unfollow({ followerId, followeeId }, ctx) {
      checkId(followerId, "follower_id");
      checkId(followeeId, "followee_id");
      if (followerId === followeeId)
        throw new DomainError(Status.INVALID_ARGUMENT, Reason.FOLLOW_SELF, "you cannot unfollow yourself");
      ctx.signal.throwIfAborted();
      try {
        await store.unfollow(followerId, followeeId);
      } catch (err) {
        if (err instanceof NotFollowingError)
          throw new DomainError(Status.FAILED_PRECONDITION, Reason.NOT_FOLLOWING, "not following this user");
        throw err;
      }
      return {};
    },

    async listFollowing({ userId, viewerId }, ctx) {
      checkId(userId, "user_id");
      checkViewer(viewerId);
      return { users: await hydrate(userId, await store.listFollowing(userId, max), viewerId, ctx.signal) };
    },

    async listFollowers({ userId, viewerId }, ctx) {
      checkId(userId, "user_id");
      checkViewer(viewerId);
      return { users: await hydrate(userId, await store.listFollowers(userId, max), viewerId, ctx.signal) };
    },

    async listFriends({ userId, viewerId }, ctx) {
      checkId(userId, "user_id");
      checkViewer(viewerId);
      const ids = await store.listFriends(userId, max);
      const [related, latest] = await Promise.all([
        hydrate(userId, ids, viewerId, ctx.signal),
        latestMessages(messages, viewerId, ids, ctx.signal),
      ]);
      const friends = toFriendEntries(related, latest, viewerId);
      return { friends };
    },

    async isFriend({ userId, otherId }) {
      checkId(userId, "user_id");
      checkId(otherId, "other_id");
      return { isFriend: userId !== otherId && (await store.areFriends(userId, otherId)) };
    },

    async getRelationStats({ viewerId, userIds }, ctx) {
      checkViewer(viewerId);
      if (userIds.length > STATS_MAX) throw invalid(`at most ${STATS_MAX} user_ids per call`);
      for (const id of userIds) checkId(id, "user_ids");
      const stats = await store.stats(viewerId, userIds, ctx.signal);
      const byId = new Map(stats.map((s) => [s.userId, s]));
      return { stats: userIds.map((id) => toStats(id, byId.get(id))) };
    },
  };
}
