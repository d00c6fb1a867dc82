// Schema of the user service (migration table `user_migrations`). Never edit an applied migration:
// add a new one with a name that sorts after the last.
import type { Kysely, Migration } from "kysely";
import { dialectOf } from "../../platform/storage/index.ts";
import { epochMsDefault } from "../../platform/storage/schema.ts";

export const USER_MIGRATION_TABLE = "user_migrations";

export const userMigrations: Record<string, Migration> = {
  "0001_users": {
    async up(db: Kysely<any>) {
      const pg = dialectOf(db) === "postgres";
      await db.schema
        .createTable("users")
        .addColumn("id", pg ? "bigint" : "integer", (c) =>
          pg ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement(),
        )
        // Exact, case-sensitive comparison: PostgreSQL text equality and SQLite's default BINARY collation.
        .addColumn("username", "text", (c) => c.notNull().unique())
        .addColumn("password_hash", "text", (c) => c.notNull())
        .addColumn("avatar", "text", (c) => c.notNull().defaultTo(""))
        .addColumn("background_image", "text", (c) => c.notNull().defaultTo(""))
        .addColumn("signature", "text", (c) => c.notNull().defaultTo(""))
        .addColumn("total_favorited", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("work_count", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("favorite_count", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("created_at", "bigint", (c) => c.notNull().defaultTo(epochMsDefault(db)))
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable("users").execute();
    },
  },
};
