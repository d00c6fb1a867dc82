// Schema of the user service (migration table `user_migrations`). Never edit an applied migration:
// add a new one with a name that sorts after the last.
import type { Kysely, Migration } from "kysely";
import { usernameKey } from "../../platform/credentials.ts";
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
  // RFC 8265 UsernameCaseMapped key (platform/credentials.ts usernameKey), unique: "Alice" and "alice"
  // are one account. Existing rows get their key in id order; a later row whose key an earlier one
  // already has keeps NULL (NULLs never collide) and logs in only by its exact name, as before.
  "0002_username_key": {
    async up(db: Kysely<any>) {
      await db.schema.alterTable("users").addColumn("username_key", "text").execute();
      const rows = await db.selectFrom("users").select(["id", "username"]).orderBy("id").execute();
      const taken = new Set<string>();
      for (const r of rows as Array<{ id: number; username: string }>) {
        const key = usernameKey(r.username);
        if (taken.has(key)) continue;
        taken.add(key);
        await db.updateTable("users").set({ username_key: key }).where("id", "=", r.id).execute();
      }
      await db.schema.createIndex("users_username_key_idx").on("users").column("username_key").unique().execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropIndex("users_username_key_idx").execute();
      await db.schema.alterTable("users").dropColumn("username_key").execute();
    },
  },
};
