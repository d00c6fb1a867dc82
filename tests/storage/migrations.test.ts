import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { test } from "node:test";
import { type Kysely, type Migration, sql } from "kysely";
import {
  dialectOf,
  isUniqueViolation,
  openDatabase,
  parseDatabaseUrl,
  redactUrl,
} from "../../platform/storage/index.ts";
import { RELATION_MIGRATION_TABLE, relationMigrations } from "../../services/relation/migrations.ts";
import { USER_MIGRATION_TABLE, userMigrations } from "../../services/user/migrations.ts";
import { eachBackend, silentLogger } from "./backends.ts";

test("database URLs", () => {
  assert.deepEqual(parseDatabaseUrl("sqlite:.data/dzug.db"), { dialect: "sqlite", target: ".data/dzug.db" });
  assert.deepEqual(parseDatabaseUrl("sqlite:///var/lib/x.db"), { dialect: "sqlite", target: "/var/lib/x.db" });
  assert.deepEqual(parseDatabaseUrl("sqlite::memory:"), { dialect: "sqlite", target: ":memory:" });
  assert.equal(parseDatabaseUrl("postgres://u:p@h:5432/d").dialect, "postgres");
  assert.equal(parseDatabaseUrl("postgresql://h/d").dialect, "postgres");
  assert.throws(
    () => parseDatabaseUrl("mysql://u:secret@h/d"),
    (err: Error) => {
      assert.match(err.message, /DZUG_DATABASE_URL/);
      assert.doesNotMatch(err.message, /secret/);
      return true;
    },
  );
  assert.throws(() => parseDatabaseUrl("sqlite:"), /file path/);
  assert.equal(redactUrl("postgres://dzug:s3cret@db:5432/dzug"), "postgres://dzug:***@db:5432/dzug");
  assert.equal(redactUrl("postgres://db/dzug"), "postgres://db/dzug");
});

test("sqlite: a relative path is resolved from the working directory and its parent dirs are created", async () => {
  const dir = mkdtempSync(join(tmpdir(), "dzug-rel-"));
  try {
    const path = relative(process.cwd(), join(dir, "a", "b", "dzug.db"));
    const h = await openDatabase<any>({
      url: `sqlite:${path}`,
      logger: silentLogger,
      migrations: {},
      migrationTable: "m",
    });
    try {
      assert.equal(h.dialect, "sqlite");
      assert.ok(statSync(join(dir, "a", "b", "dzug.db")).isFile());
      const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(h.db);
      assert.equal(mode.rows[0]?.journal_mode, "wal");
      const fk = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(h.db);
      assert.equal(fk.rows[0]?.foreign_keys, 1);
      const sync = await sql<{ synchronous: number }>`pragma synchronous`.execute(h.db);
      assert.equal(sync.rows[0]?.synchronous, 1, "synchronous = NORMAL");
      await h.ping();
    } finally {
      await h.close();
      await h.close(); // idempotent
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

eachBackend((backend) => {
  test("concurrent start-ups on a fresh database all succeed and apply each migration once", async () => {
    const url = await backend.freshUrl();
    let runs = 0;
    const migrations: Record<string, Migration> = {
      "0001_a": {
        async up(db: Kysely<any>) {
          runs++;
          await db.schema.createTable("runs").addColumn("n", "integer").execute();
          await db.insertInto("runs").values({ n: 1 }).execute();
        },
      },
      "0002_b": {
        async up(db: Kysely<any>) {
          runs++;
          await db.insertInto("runs").values({ n: 2 }).execute();
        },
      },
    };
    const handles = await Promise.all(
      Array.from({ length: 6 }, () => backend.open<any>(url, migrations, "test_migrations")),
    );
    assert.equal(runs, 2);
    const h = handles[0]!;
    assert.equal(h.dialect, backend.kind);
    assert.equal(dialectOf(h.db), backend.kind);
    const rows = await h.db.selectFrom("runs").select("n").orderBy("n").execute();
    assert.deepEqual(
      rows.map((r: { n: unknown }) => Number(r.n)),
      [1, 2],
    );
    const applied = await h.db.selectFrom("test_migrations").select("name").orderBy("name").execute();
    assert.deepEqual(
      applied.map((r: { name: string }) => r.name),
      ["0001_a", "0002_b"],
    );
  });

  test("both services' migrations share one database, each with its own migration table", async () => {
    const url = await backend.freshUrl();
    await Promise.all([
      backend.open(url, userMigrations, USER_MIGRATION_TABLE),
      backend.open(url, relationMigrations, RELATION_MIGRATION_TABLE),
      backend.open(url, userMigrations, USER_MIGRATION_TABLE),
      backend.open(url, relationMigrations, RELATION_MIGRATION_TABLE),
    ]);
    const h = await backend.open<any>(url, userMigrations, USER_MIGRATION_TABLE);
    const tables = (await h.db.introspection.getTables({ withInternalKyselyTables: true })).map((t) => t.name).sort();
    for (const t of ["users", "follows", "follow_counts", USER_MIGRATION_TABLE, RELATION_MIGRATION_TABLE]) {
      assert.ok(tables.includes(t), `${t} in ${tables.join(",")}`);
    }
    const u = await h.db.selectFrom(USER_MIGRATION_TABLE).select("name").execute();
    const r = await h.db.selectFrom(RELATION_MIGRATION_TABLE).select("name").execute();
    assert.deepEqual(
      u.map((x: { name: string }) => x.name),
      Object.keys(userMigrations),
    );
    assert.deepEqual(
      r.map((x: { name: string }) => x.name),
      Object.keys(relationMigrations),
    );
  });

  test("a failing migration stops openDatabase and leaves nothing half-applied", async () => {
    const url = await backend.freshUrl();
    const bad: Record<string, Migration> = {
      "0001_bad": {
        async up(db: Kysely<any>) {
          await db.schema.createTable("half").addColumn("x", "integer").execute();
          await sql`select * from no_such_table`.execute(db);
        },
      },
    };
    await assert.rejects(backend.open(url, bad, "bad_migrations"));
    const h = await backend.open<any>(url, {}, "bad_migrations");
    const tables = (await h.db.introspection.getTables()).map((t) => t.name);
    assert.ok(!tables.includes("half"), "the failed migration's DDL was rolled back");
  });

  test("int8 comes back as a JS number; unique violations are recognised", async () => {
    const url = await backend.freshUrl();
    const h = await backend.open<any>(url, userMigrations, USER_MIGRATION_TABLE);
    const big = await sql<{
      x: unknown;
      c: unknown;
    }>`select cast(9007199254740991 as bigint) as x, count(*) as c from users`.execute(h.db);
    assert.equal(big.rows[0]?.x, 9007199254740991);
    assert.equal(big.rows[0]?.c, 0);
    await h.db.insertInto("users").values({ username: "u", password_hash: "h" }).execute();
    const err = await h.db
      .insertInto("users")
      .values({ username: "u", password_hash: "h" })
      .execute()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(err, "duplicate insert fails");
    assert.equal(isUniqueViolation(err), true);
    const other = await sql`select * from no_such_table`.execute(h.db).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(other);
    assert.equal(isUniqueViolation(other), false);
    assert.equal(isUniqueViolation(undefined), false);
  });
});
