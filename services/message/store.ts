// The message service's tables.
import type { Generated, Kysely } from "kysely";

export interface ItemsTable {
  id: Generated<number>;
  content: string;
  /** Milliseconds since the epoch. */
  created_at: Generated<number>;
}

export interface MessageTables {
  message_items: ItemsTable;
}

export interface ItemRow {
  id: number;
  content: string;
  createdAt: number;
}

export class MessageStore {
  readonly #db: Kysely<MessageTables>;

  constructor(db: Kysely<MessageTables>) {
    this.#db = db;
  }

  async add(content: string): Promise<ItemRow> {
    const row = await this.#db
      .insertInto("message_items")
      .values({ content, created_at: Date.now() })
      .returning(["id", "content", "created_at"])
      .executeTakeFirstOrThrow();
    return { id: Number(row.id), content: row.content, createdAt: Number(row.created_at) };
  }

  async get(id: number): Promise<ItemRow | undefined> {
    const row = await this.#db
      .selectFrom("message_items")
      .select(["id", "content", "created_at"])
      .where("id", "=", id)
      .executeTakeFirst();
    return row && { id: Number(row.id), content: row.content, createdAt: Number(row.created_at) };
  }
}
