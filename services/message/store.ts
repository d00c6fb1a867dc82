// The message service's tables: messages and one row per conversation (its lock and newest message).
import { type Generated, type Kysely, sql } from "kysely";
import { dialectOf, IN_LIST_CHUNK, inTransaction } from "../../platform/storage/index.ts";

export interface MessagesTable {
  id: Generated<number>;
  /** The conversation: the smaller and the larger of the two user ids. */
  user_low: number;
  user_high: number;
  from_user_id: number;
  to_user_id: number;
  content: string;
  /** Milliseconds since the epoch; unique and increasing within a conversation. */
  create_time: number;
}

export interface ConversationsTable {
  user_low: number;
  user_high: number;
  /** create_time of the newest message. */
  last_time: number;
  last_message_id: Generated<number>;
}

export interface MessageTables {
  messages: MessagesTable;
  message_conversations: ConversationsTable;
}

export interface MessageRow {
  id: number;
  fromUserId: number;
  toUserId: number;
  content: string;
  createTime: number;
}

const pair = (a: number, b: number) => (a < b ? { user_low: a, user_high: b } : { user_low: b, user_high: a });

const COLUMNS = ["id", "from_user_id", "to_user_id", "content", "create_time"] as const;

function toRow(r: { id: number; from_user_id: number; to_user_id: number; content: string; create_time: number }) {
  return {
    id: Number(r.id),
    fromUserId: Number(r.from_user_id),
    toUserId: Number(r.to_user_id),
    content: r.content,
    createTime: Number(r.create_time),
  };
}

export class MessageStore {
  readonly #db: Kysely<MessageTables>;
  readonly #now: () => number;

  constructor(db: Kysely<MessageTables>, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
  }

  /**
   * Stores a message with create_time = max(now, the conversation's last + 1), in one transaction that
   * first takes the conversation's row: concurrent senders (on any instance) take turns, so times
   * are unique and increase in commit order, and a poller never sees a later time before an earlier one.
   */
  async send(fromUserId: number, toUserId: number, content: string): Promise<MessageRow> {
    const conversation = pair(fromUserId, toUserId);
    return inTransaction(this.#db, async (trx) => {
      const greatest = dialectOf(trx) === "postgres" ? sql.raw("greatest") : sql.raw("max");
      const { last_time: createTime } = await trx
        .insertInto("message_conversations")
        .values({ ...conversation, last_time: this.#now() })
        .onConflict((oc) =>
          oc.columns(["user_low", "user_high"]).doUpdateSet({
            last_time: sql<number>`${greatest}(message_conversations.last_time + 1, excluded.last_time)`,
          }),
        )
        .returning("last_time")
        .executeTakeFirstOrThrow();
      const row = await trx
        .insertInto("messages")
        .values({ ...conversation, from_user_id: fromUserId, to_user_id: toUserId, content, create_time: createTime })
        .returning(COLUMNS)
        .executeTakeFirstOrThrow();
      await trx
        .updateTable("message_conversations")
        .set({ last_message_id: row.id })
        .where("user_low", "=", conversation.user_low)
        .where("user_high", "=", conversation.user_high)
        .execute();
      return toRow(row);
    });
  }

  /**
   * The conversation of `userId` and `peerId`, oldest first: at most `limit` messages with create_time
   * > afterTime, or with afterTime 0 the latest `limit`.
   */
  async list(userId: number, peerId: number, afterTime: number, limit: number): Promise<MessageRow[]> {
    const conversation = pair(userId, peerId);
    const query = this.#db
      .selectFrom("messages")
      .select(COLUMNS)
      .where("user_low", "=", conversation.user_low)
      .where("user_high", "=", conversation.user_high);
    if (afterTime > 0) {
      const rows = await query.where("create_time", ">", afterTime).orderBy("create_time").limit(limit).execute();
      return rows.map(toRow);
    }
    const rows = await query.orderBy("create_time", "desc").limit(limit).execute();
    return rows.reverse().map(toRow);
  }

  /** The newest message of `userId`'s conversation with each of `peerIds` that has one. */
  async latest(userId: number, peerIds: readonly number[], signal?: AbortSignal): Promise<MessageRow[]> {
    const unique = [...new Set(peerIds)].filter((p) => p !== userId);
    const out: MessageRow[] = [];
    for (let i = 0; i < unique.length; i += IN_LIST_CHUNK) {
      signal?.throwIfAborted(); // no further chunk for a caller that gave up
      const chunk = unique.slice(i, i + IN_LIST_CHUNK);
      const below = chunk.filter((p) => p < userId);
      const above = chunk.filter((p) => p > userId);
      const rows = await this.#db
        .selectFrom("message_conversations as c")
        .innerJoin("messages as m", "m.id", "c.last_message_id")
        .select(COLUMNS.map((c) => `m.${c}` as const))
        .where((eb) =>
          eb.or([
            ...(below.length > 0 ? [eb.and([eb("c.user_high", "=", userId), eb("c.user_low", "in", below)])] : []),
            ...(above.length > 0 ? [eb.and([eb("c.user_low", "=", userId), eb("c.user_high", "in", above)])] : []),
          ]),
        )
        .execute();
      out.push(...rows.map(toRow));
    }
    return out;
  }
}
