// The relation service's tables: the follow graph (`follows`) and denormalised counts (`follow_counts`).
// Counts change only in the same transaction as the relation row they count, so they never drift.
import type { Generated, Kysely } from "kysely";
import { type CompiledRunner, compileOnce, IN_LIST_CHUNK, inTransaction } from "../../platform/storage/index.ts";

export interface FollowsTable {
  /** Insertion sequence: strictly orders relations, newest = highest. */
  seq: Generated<number>;
  follower_id: number;
  followee_id: number;
  /** Milliseconds since the epoch. */
  created_at: Generated<number>;
}

export interface FollowCountsTable {
  user_id: number;
  /** How many users `user_id` follows. */
  follow_count: Generated<number>;
  /** How many users follow `user_id`. */
  follower_count: Generated<number>;
}

export interface RelationTables {
  follows: FollowsTable;
  follow_counts: FollowCountsTable;
}

export interface RelationStatsRow {
  userId: number;
  followCount: number;
  followerCount: number;
  /** Whether the viewer follows userId. */
  isFollow: boolean;
}

export class AlreadyFollowingError extends Error {
  readonly followerId: number;
  readonly followeeId: number;
  constructor(followerId: number, followeeId: number) {
    super("already following");
    this.name = "AlreadyFollowingError";
    this.followerId = followerId;
    this.followeeId = followeeId;
  }
}

export class NotFollowingError extends Error {
  readonly followerId: number;
  readonly followeeId: number;
  constructor(followerId: number, followeeId: number) {
    super("not following");
    this.name = "NotFollowingError";
    this.followerId = followerId;
    this.followeeId = followeeId;
  }
}

type CountColumn = "follow_count" | "follower_count";

export class RelationStore {
  readonly #db: Kysely<RelationTables>;

  /** GetRelationStats' two queries for one user (the common case), compiled once (platform/storage/compiled.ts). */
  readonly #statsOf: CompiledRunner<{ follow_count: number; follower_count: number; is_follow: unknown }>;

  constructor(db: Kysely<RelationTables>) {
    this.#db = db;
    // One statement: the counts row and whether the viewer follows (a correlated EXISTS). No counts row
    // means nobody follows the user (counts change in the same transaction as the follow rows), so
    // is_follow is false then too. Parameters in SQL order: viewer id, user id.
    this.#statsOf = compileOnce(db, (q) =>
      q
        .selectFrom("follow_counts")
        .select((eb) => [
          "follow_count",
          "follower_count",
          eb
            .exists(
              eb
                .selectFrom("follows")
                .select("follows.followee_id")
                .where("follows.follower_id", "=", -1)
                .whereRef("follows.followee_id", "=", "follow_counts.user_id"),
            )
            .as("is_follow"),
        ])
        .where("follow_counts.user_id", "=", -2),
    );
  }

  /**
   * Makes `followerId` follow `followeeId` and bumps both counts, in one transaction.
   * Throws AlreadyFollowingError (nothing changed) when the relation exists. Self-follow and user
   * existence are the service's checks (a self-follow also fails the table's CHECK constraint).
   */
  async follow(followerId: number, followeeId: number): Promise<void> {
    await inTransaction(this.#db, async (trx) => {
      const inserted = await trx
        .insertInto("follows")
        .values({ follower_id: followerId, followee_id: followeeId, created_at: Date.now() })
        .onConflict((oc) => oc.columns(["follower_id", "followee_id"]).doNothing())
        .returning("seq")
        .executeTakeFirst();
      if (!inserted) throw new AlreadyFollowingError(followerId, followeeId);
      for (const [userId, column] of lockOrder(followerId, followeeId)) {
        await trx
          .insertInto("follow_counts")
          .values({ user_id: userId, follow_count: 0, follower_count: 0, [column]: 1 })
          .onConflict((oc) =>
            oc.column("user_id").doUpdateSet((eb) => ({ [column]: eb(`follow_counts.${column}`, "+", 1) })),
          )
          .execute();
      }
    });
  }

  /**
   * Removes the relation and decrements both counts, in one transaction.
   * Throws NotFollowingError (nothing changed) when there is no such relation.
   */
  async unfollow(followerId: number, followeeId: number): Promise<void> {
    await inTransaction(this.#db, async (trx) => {
      const deleted = await trx
        .deleteFrom("follows")
        .where("follower_id", "=", followerId)
        .where("followee_id", "=", followeeId)
        .returning("seq")
        .executeTakeFirst();
      if (!deleted) throw new NotFollowingError(followerId, followeeId);
      for (const [userId, column] of lockOrder(followerId, followeeId)) {
        const res = await trx
          .updateTable("follow_counts")
          .set((eb) => ({ [column]: eb(column, "-", 1) }))
          .where("user_id", "=", userId)
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) !== 1) {
          // Cannot happen while every relation row was counted; refuse to make things worse.
          throw new Error(`follow_counts row of user ${userId} is missing while a relation exists`);
        }
      }
    });
  }

  async isFollowing(followerId: number, followeeId: number): Promise<boolean> {
    const row = await this.#db
      .selectFrom("follows")
      .select("seq")
      .where("follower_id", "=", followerId)
      .where("followee_id", "=", followeeId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Whether `a` and `b` follow each other. */
  async areFriends(a: number, b: number): Promise<boolean> {
    const rows = await this.#db
      .selectFrom("follows")
      .select("seq")
      .where((eb) =>
        eb.or([
          eb.and([eb("follower_id", "=", a), eb("followee_id", "=", b)]),
          eb.and([eb("follower_id", "=", b), eb("followee_id", "=", a)]),
        ]),
      )
      .execute();
    return rows.length === 2;
  }

  /** Whom `userId` follows, newest relation first, at most `limit`. */
  async listFollowing(userId: number, limit: number): Promise<number[]> {
    const rows = await this.#db
      .selectFrom("follows")
      .select("followee_id")
      .where("follower_id", "=", userId)
      .orderBy("seq", "desc")
      .limit(limit)
      .execute();
    return rows.map((r) => Number(r.followee_id));
  }

  /** Who follows `userId`, newest relation first, at most `limit`. */
  async listFollowers(userId: number, limit: number): Promise<number[]> {
    const rows = await this.#db
      .selectFrom("follows")
      .select("follower_id")
      .where("followee_id", "=", userId)
      .orderBy("seq", "desc")
      .limit(limit)
      .execute();
    return rows.map((r) => Number(r.follower_id));
  }

  /**
   * Users that `userId` follows and who follow `userId` back, newest friendship first: ordered by
   * the later of the two relations, i.e. when the pair became mutual; at most `limit`.
   */
  async listFriends(userId: number, limit: number): Promise<number[]> {
    const rows = await this.#db
      .selectFrom("follows as mine")
      .innerJoin("follows as theirs", (join) =>
        join.onRef("theirs.follower_id", "=", "mine.followee_id").onRef("theirs.followee_id", "=", "mine.follower_id"),
      )
      .select((eb) => [
        "mine.followee_id as friend_id",
        eb
          .case()
          .when("mine.seq", ">", eb.ref("theirs.seq"))
          .then(eb.ref("mine.seq"))
          .else(eb.ref("theirs.seq"))
          .end()
          .as("became_friends"),
      ])
      .where("mine.follower_id", "=", userId)
      .orderBy("became_friends", "desc")
      .limit(limit)
      .execute();
    return rows.map((r) => Number(r.friend_id));
  }

  /**
   * Counts of each user in `userIds` (0 for users nobody follows and who follow nobody) and whether
   * `viewerId` follows them; one entry per id asked, in the order asked.
   */
  async stats(viewerId: number, userIds: readonly number[], signal?: AbortSignal): Promise<RelationStatsRow[]> {
    const unique = [...new Set(userIds)];
    const counts = new Map<number, { follow: number; follower: number }>();
    const followed = new Set<number>();
    for (let i = 0; i < unique.length; i += IN_LIST_CHUNK) {
      signal?.throwIfAborted(); // no further chunk for a caller that gave up
      const chunk = unique.slice(i, i + IN_LIST_CHUNK);
      if (chunk.length === 1) {
        // One user (a profile read): the queries below with `=`, compiled once.
        const id = chunk[0] as number;
        const [r] = await this.#statsOf(viewerId, id);
        if (r) {
          counts.set(id, { follow: Number(r.follow_count), follower: Number(r.follower_count) });
          if (Number(r.is_follow) === 1 || r.is_follow === true) followed.add(id);
        }
        continue;
      }
      const rows = await this.#db
        .selectFrom("follow_counts")
        .select(["user_id", "follow_count", "follower_count"])
        .where("user_id", "in", chunk)
        .execute();
      for (const r of rows) {
        counts.set(Number(r.user_id), { follow: Number(r.follow_count), follower: Number(r.follower_count) });
      }
      const follows = await this.#db
        .selectFrom("follows")
        .select("followee_id")
        .where("follower_id", "=", viewerId)
        .where("followee_id", "in", chunk)
        .execute();
      for (const r of follows) followed.add(Number(r.followee_id));
    }
    return userIds.map((userId) => {
      const c = counts.get(userId);
      return {
        userId,
        followCount: c?.follow ?? 0,
        followerCount: c?.follower ?? 0,
        isFollow: followed.has(userId),
      };
    });
  }
}

/**
 * The two count rows a relation touches, in ascending user id order: every transaction locks count
 * rows in the same order, so concurrent follows/unfollows of a pair in both directions cannot deadlock.
 */
function lockOrder(followerId: number, followeeId: number): Array<[number, CountColumn]> {
  const pairs: Array<[number, CountColumn]> = [
    [followerId, "follow_count"],
    [followeeId, "follower_count"],
  ];
  return followerId < followeeId ? pairs : [pairs[1]!, pairs[0]!];
}
