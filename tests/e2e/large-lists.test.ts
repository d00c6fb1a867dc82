// Lists of any size: a user with 50,000 followers gets all of them, newest first, complete, through
// the gateway — on SQLite and on PostgreSQL. The relations are written straight into the services'
// tables (50,000 registrations would only measure argon2); everything read goes through the system.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, describe, test } from "node:test";
import { type Kysely, openDatabase } from "../../platform/storage/index.ts";
import { RELATION_MIGRATION_TABLE, relationMigrations } from "../../services/relation/migrations.ts";
import { USER_MIGRATION_TABLE, userMigrations } from "../../services/user/migrations.ts";
import { USER_FIELDS } from "../harness/douyin.ts";
import { PostgresProcess } from "../harness/postgres.ts";
import { call, DzugSystem } from "../harness/system.ts";

const FOLLOWERS = 50_000;
const BATCH = 1_000;
const quiet = { info() {}, warn() {}, error() {} };

/** FOLLOWERS new users, each following `target` (in id order, so the newest follower has the highest id). */
async function seedFollowers(url: string, target: number, tag: string): Promise<number[]> {
  const users = await openDatabase<any>({
    url,
    logger: quiet,
    migrations: userMigrations,
    migrationTable: USER_MIGRATION_TABLE,
  });
  const relations = await openDatabase<any>({
    url,
    logger: quiet,
    migrations: relationMigrations,
    migrationTable: RELATION_MIGRATION_TABLE,
  });
  try {
    const ids: number[] = [];
    for (let i = 0; i < FOLLOWERS; i += BATCH) {
      const rows = Array.from({ length: Math.min(BATCH, FOLLOWERS - i) }, (_, k) => ({
        username: `${tag}-${i + k}`,
        password_hash: "not-a-hash: this account cannot log in",
      }));
      const inserted = await (users.db as Kysely<any>).insertInto("users").values(rows).returning("id").execute();
      ids.push(...inserted.map((r) => Number(r.id)));
    }
    for (let i = 0; i < ids.length; i += BATCH) {
      const batch = ids.slice(i, i + BATCH);
      const db = relations.db as Kysely<any>;
      await db
        .insertInto("follows")
        .values(batch.map((id) => ({ follower_id: id, followee_id: target })))
        .execute();
      await db
        .insertInto("follow_counts")
        .values(batch.map((id) => ({ user_id: id, follow_count: 1, follower_count: 0 })))
        .execute();
    }
    await (relations.db as Kysely<any>)
      .insertInto("follow_counts")
      .values({ user_id: target, follow_count: 0, follower_count: FOLLOWERS })
      .execute();
    return ids;
  } finally {
    await users.close();
    await relations.close();
  }
}

async function fiftyThousandFollowers(sys: DzugSystem, tag: string): Promise<void> {
  const reg = await call(sys.url, "POST", "/douyin/user/register/", { username: tag, password: "secret123" });
  assert.equal(reg.body.status_code, 0, JSON.stringify(reg.body));
  const ids = await seedFollowers(sys.databaseUrl, reg.body.user_id, tag);
  const started = performance.now();
  const r = await call(sys.url, "GET", "/douyin/relation/follower/list/", {
    token: reg.body.token,
    user_id: reg.body.user_id,
  });
  const ms = performance.now() - started;
  assert.equal(r.status, 200);
  assert.equal(r.body.status_code, 0, r.body.status_msg);
  const list = r.body.user_list as Array<Record<string, unknown>>;
  assert.equal(list.length, FOLLOWERS);
  assert.deepEqual(
    list.map((u) => u.id),
    ids.toReversed(),
    "every follower, newest first",
  );
  assert.deepEqual(Object.keys(list[0]!).sort(), USER_FIELDS);
  assert.ok(list.every((u) => u.follow_count === 1 && u.is_follow === false));
  const me = await call(sys.url, "GET", "/douyin/user/", { token: reg.body.token });
  assert.equal(me.body.user.follower_count, FOLLOWERS);
  // Peak resident memory of each process, for docs/benchmarks.md (printed, not asserted).
  const peak = (pid: number | undefined) =>
    /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "?";
  const mem = [sys.gateway, ...sys.instances].map((p) => `${p?.name} ${peak(p?.child.pid)} kB`).join(", ");
  process.stdout.write(`# ${tag}: ${FOLLOWERS} followers in ${Math.round(ms)} ms; peak RSS ${mem}\n`);
}

describe("lists of any size", { timeout: 300_000 }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  test("50,000 followers on SQLite", async () => {
    const sys = await DzugSystem.start({ users: 1, relations: 1 });
    cleanups.push(() => sys.destroy());
    await fiftyThousandFollowers(sys, "big-sqlite");
  });

  test("50,000 followers on PostgreSQL", async () => {
    const pg = await PostgresProcess.start();
    cleanups.push(() => pg.destroy());
    const sys = await DzugSystem.start({ users: 1, relations: 1, databaseUrl: pg.url });
    cleanups.push(() => sys.destroy());
    await fiftyThousandFollowers(sys, "big-pg");
  });
});
