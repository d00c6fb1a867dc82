// Lists read one page at a time, newest first, with keyset pagination: each page continues below the
// last page's sort key (a relation's `seq`, unique), so a page costs an index range scan whatever its
// position in the list and the service never holds more than one page (the streamed lists).
import type { Kysely } from "kysely";
import type { RelationTables } from "./store.ts";

/** One page: the users' ids in list order, and the cursor of the next page (undefined: the list ended). */
export interface ListPage {
  ids: number[];
  next: number | undefined;
}

export type ListKind = "following" | "followers" | "friends";

export class RelationListPages {
  readonly #db: Kysely<RelationTables>;

  constructor(db: Kysely<RelationTables>) {
    this.#db = db;
  }

  /**
   * The page of `kind` of `userId` after `cursor` (undefined: the first page), at most `limit` ids. The
   * same order as RelationStore's unpaged lists: relation seq descending; friends by the later of the
   * two relations (unique too: a relation row belongs to one pair).
   */
  async page(kind: ListKind, userId: number, cursor: number | undefined, limit: number): Promise<ListPage> {
    const rows =
      kind === "friends" ? await this.#friends(userId, cursor, limit) : await this.#edges(kind, userId, cursor, limit);
    const ids = rows.map((r) => Number(r.id));
    const last = rows.at(-1);
    return { ids, next: rows.length === limit && last ? Number(last.key) : undefined };
  }

  /** Index (follower_id, seq) or (followee_id, seq): a range scan from the cursor down. */
  async #edges(kind: "following" | "followers", userId: number, cursor: number | undefined, limit: number) {
    const [mine, theirs] =
      kind === "following" ? (["follower_id", "followee_id"] as const) : (["followee_id", "follower_id"] as const);
    let q = this.#db
      .selectFrom("follows")
      .select([`${theirs} as id`, "seq as key"])
      .where(mine, "=", userId)
      .orderBy("seq", "desc")
      .limit(limit);
    if (cursor !== undefined) q = q.where("seq", "<", cursor);
    return q.execute();
  }

  /**
   * Friends: the sort key is computed (the later seq of the pair), so each page filters the user's
   * mutual relations by it; a page costs a scan of the user's follows (index follower_id, seq), not
   * of the pages before it.
   */
  async #friends(userId: number, cursor: number | undefined, limit: number) {
    let q = this.#db
      .selectFrom("follows as mine")
      .innerJoin("follows as theirs", (join) =>
        join.onRef("theirs.follower_id", "=", "mine.followee_id").onRef("theirs.followee_id", "=", "mine.follower_id"),
      )
      .select((eb) => [
        "mine.followee_id as id",
        eb
          .case()
          .when("mine.seq", ">", eb.ref("theirs.seq"))
          .then(eb.ref("mine.seq"))
          .else(eb.ref("theirs.seq"))
          .end()
          .as("key"),
      ])
      .where("mine.follower_id", "=", userId)
      .orderBy("key", "desc")
      .limit(limit);
    if (cursor !== undefined) {
      q = q.where(
        (eb) =>
          eb
            .case()
            .when("mine.seq", ">", eb.ref("theirs.seq"))
            .then(eb.ref("mine.seq"))
            .else(eb.ref("theirs.seq"))
            .end(),
        "<",
        cursor,
      );
    }
    return q.execute();
  }
}
