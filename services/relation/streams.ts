// The streamed lists (StreamFollowing, StreamFollowers, StreamFriends): a list of any length in pages
// of `pageSize` entries, each read from the store with a keyset cursor (list-pages.ts) and hydrated on
// its own (one GetUsers call, its stats, its newest messages), so the process holds at most two pages
// of a list: the one being sent and the next one, read while the first is on its way. nice-grpc's
// server waits for the transport's 'drain' after each page, so a slow reader pauses the reading here.
import type { CallContext } from "nice-grpc";
import { Status } from "nice-grpc";
import { checkId, DomainError, Reason } from "../../platform/errors.ts";
import type { Friend, RelatedUser } from "../../proto/gen/dzug/relation/v1/relation.ts";
import {
  assertUserExists,
  checkViewer,
  latestMessages,
  type MessageClient,
  toFriendEntries,
  toStats,
  type UserClient,
} from "./hydrate.ts";
import type { ListKind, RelationListPages } from "./list-pages.ts";
import type { RelationStore } from "./store.ts";

export interface ListStreamsDeps {
  pages: RelationListPages;
  store: RelationStore;
  users: UserClient;
  messages: MessageClient;
  /** Entries per streamed message (config `lists.pageSize`). */
  pageSize: number;
  /** Lists streaming at once in this process (config `lists.maxConcurrentStreams`); one more is refused. */
  maxConcurrent: number;
}

interface ListRequest {
  userId: number;
  viewerId: number;
}

const ignore = () => {};

export function listStreams(deps: ListStreamsDeps) {
  const { pages, store, users, messages, pageSize } = deps;
  let streaming = 0;

  /** Profiles and stats of one page's ids, in their order; accounts gone since are left out. */
  async function related(ids: number[], viewerId: number, signal: AbortSignal): Promise<RelatedUser[]> {
    const [{ users: profiles }, stats] = await Promise.all([
      users.getUsers({ ids }, { signal }),
      store.stats(viewerId, ids, signal),
    ]);
    const byId = new Map(profiles.map((p) => [p.id, p]));
    const out: RelatedUser[] = [];
    for (let i = 0; i < ids.length; i++) {
      const profile = byId.get(ids[i]!);
      if (profile) out.push({ profile, stats: toStats(ids[i]!, stats[i]) });
    }
    return out;
  }

  /**
   * The pages of `kind` of the request's user, each hydrated by `hydrate`. The next page is read and
   * hydrated while the current one is sent; an empty list yields nothing.
   */
  async function* paged<T>(
    kind: ListKind,
    { userId, viewerId }: ListRequest,
    ctx: CallContext,
    hydrate: (ids: number[], viewerId: number, signal: AbortSignal) => Promise<T[]>,
  ): AsyncGenerator<T[]> {
    checkId(userId, "user_id");
    checkViewer(viewerId);
    if (streaming >= deps.maxConcurrent) {
      throw new DomainError(
        Status.RESOURCE_EXHAUSTED,
        Reason.OVERLOADED,
        "too many lists streaming; try again shortly",
      );
    }
    streaming++;
    try {
      const { signal } = ctx;
      await assertUserExists(users, userId, signal);
      type Fetched = { entries: T[]; next: number | undefined };
      const fetch = async (cursor: number | undefined): Promise<Fetched> => {
        const page = await pages.page(kind, userId, cursor, pageSize);
        return { entries: page.ids.length > 0 ? await hydrate(page.ids, viewerId, signal) : [], next: page.next };
      };
      let pending: Promise<Fetched> | undefined = fetch(undefined);
      while (pending) {
        const page: Fetched = await pending;
        pending = page.next === undefined ? undefined : fetch(page.next);
        pending?.catch(ignore); // awaited on the next turn; a reader gone meanwhile must not crash the process
        if (page.entries.length > 0) yield page.entries;
      }
    } finally {
      streaming--;
    }
  }

  async function friendsPage(ids: number[], viewerId: number, signal: AbortSignal): Promise<Friend[]> {
    const [rel, latest] = await Promise.all([
      related(ids, viewerId, signal),
      latestMessages(messages, viewerId, ids, signal),
    ]);
    return toFriendEntries(rel, latest, viewerId);
  }

  return {
    async *streamFollowing(request: ListRequest, ctx: CallContext) {
      for await (const users of paged("following", request, ctx, related)) yield { users };
    },
    async *streamFollowers(request: ListRequest, ctx: CallContext) {
      for await (const users of paged("followers", request, ctx, related)) yield { users };
    },
    async *streamFriends(request: ListRequest, ctx: CallContext) {
      for await (const friends of paged("friends", request, ctx, friendsPage)) yield { friends };
    },
  };
}
