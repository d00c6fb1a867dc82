// Schema of the message service (migration table `message_migrations`). Never edit an applied migration:
// add a new one with a name that sorts after the last. Tables are prefixed `message_`: services may share
// one database (`npm run up` uses one SQLite file).
import type { Kysely, Migration } from "kysely";
import { dialectOf } from "../../platform/storage/index.ts";
import { epochMsDefault } from "../../platform/storage/schema.ts";

export const MESSAGE_MIGRATION_TABLE = "message_migrations";

export const messageMigrations: Record<string, Migration> = {
  "0001_items": {
    async up(db: Kysely<any>) {
      const pg = dialectOf(db) === "postgres";
      await db.schema
        .createTable("message_items")
        .addColumn("id", pg ? "bigint" : "integer", (c) =>
          pg ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement(),
        )
        .addColumn("content", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull().defaultTo(epochMsDefault(db)))
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable("message_items").execute();
    },
  },
};
