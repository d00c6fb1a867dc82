// Schema of the message service (migration table `message_migrations`). Never edit an applied
// migration: add a new one with a name that sorts after the last.
import { type Kysely, type Migration, sql } from "kysely";
import { dialectOf } from "../../platform/storage/index.ts";

export const MESSAGE_MIGRATION_TABLE = "message_migrations";

export const messageMigrations: Record<string, Migration> = {
  "0001_messages": {
    async up(db: Kysely<any>) {
      const pg = dialectOf(db) === "postgres";
      // A conversation is the unordered pair (user_low < user_high). Its row is the lock senders of
      // one conversation take in turn (so create_time is assigned in commit order) and it points at
      // the newest message (friend lists read it without scanning messages).
      await db.schema
        .createTable("message_conversations")
        .addColumn("user_low", "bigint", (c) => c.notNull())
        .addColumn("user_high", "bigint", (c) => c.notNull())
        .addColumn("last_time", "bigint", (c) => c.notNull())
        .addColumn("last_message_id", "bigint", (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint("message_conversations_pkey", ["user_low", "user_high"])
        .addCheckConstraint("message_conversations_ordered", sql`user_low < user_high`)
        .execute();
      await db.schema
        .createTable("messages")
        .addColumn("id", pg ? "bigint" : "integer", (c) =>
          pg ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement(),
        )
        .addColumn("user_low", "bigint", (c) => c.notNull())
        .addColumn("user_high", "bigint", (c) => c.notNull())
        .addColumn("from_user_id", "bigint", (c) => c.notNull())
        .addColumn("to_user_id", "bigint", (c) => c.notNull())
        .addColumn("content", "text", (c) => c.notNull())
        .addColumn("create_time", "bigint", (c) => c.notNull())
        .execute();
      // Two messages of one conversation never share a create_time (polling by time never skips or
      // repeats one); the same index answers the conversation query in create_time order.
      await db.schema
        .createIndex("messages_conversation_time_key")
        .on("messages")
        .columns(["user_low", "user_high", "create_time"])
        .unique()
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable("messages").execute();
      await db.schema.dropTable("message_conversations").execute();
    },
  },
};
