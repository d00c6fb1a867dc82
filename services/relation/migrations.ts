// Schema of the relation service (migration table `relation_migrations`). Never edit an applied
// migration: add a new one with a name that sorts after the last.
import { type Kysely, type Migration, sql } from "kysely";
import { dialectOf } from "../../platform/storage/index.ts";
import { epochMsDefault } from "../../platform/storage/schema.ts";

export const RELATION_MIGRATION_TABLE = "relation_migrations";

export const relationMigrations: Record<string, Migration> = {
  "0001_follows": {
    async up(db: Kysely<any>) {
      const pg = dialectOf(db) === "postgres";
      // `seq` orders relations strictly ("newest first" never ties); (follower, followee) is unique.
      await db.schema
        .createTable("follows")
        .addColumn("seq", pg ? "bigint" : "integer", (c) =>
          pg ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement(),
        )
        .addColumn("follower_id", "bigint", (c) => c.notNull())
        .addColumn("followee_id", "bigint", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull().defaultTo(epochMsDefault(db)))
        .addUniqueConstraint("follows_pair_key", ["follower_id", "followee_id"])
        .addCheckConstraint("follows_not_self", sql`follower_id <> followee_id`)
        .execute();
      await db.schema.createIndex("follows_follower_seq_idx").on("follows").columns(["follower_id", "seq"]).execute();
      await db.schema.createIndex("follows_followee_seq_idx").on("follows").columns(["followee_id", "seq"]).execute();
      await db.schema
        .createTable("follow_counts")
        .addColumn("user_id", "bigint", (c) => c.primaryKey())
        .addColumn("follow_count", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("follower_count", "bigint", (c) => c.notNull().defaultTo(0))
        .addCheckConstraint("follow_counts_non_negative", sql`follow_count >= 0 and follower_count >= 0`)
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable("follow_counts").execute();
      await db.schema.dropTable("follows").execute();
    },
  },
};
