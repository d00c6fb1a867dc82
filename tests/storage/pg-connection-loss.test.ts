// A PostgreSQL connection that dies while a caller holds it between queries (server restart, a proxy
// or network cutting it) must not end the process: pg emits 'error' on a checked-out client, and an
// 'error' event nobody listens to is an uncaught exception. Seen as a user instance crashing under
// load when its database connection was reset (tests/e2e/unhealthy.test.ts).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sql } from "kysely";
import { type Database, openDatabase } from "../../platform/storage/index.ts";
import { PostgresProcess } from "../harness/postgres.ts";
import { waitFor } from "../harness/wait.ts";

let pg: PostgresProcess;
let database: Database<unknown>;
const warnings: string[] = [];
const logger = {
  info: () => undefined,
  error: () => undefined,
  warn: (_obj: object, msg?: string) => void warnings.push(msg ?? ""),
};

before(async () => {
  pg = await PostgresProcess.start();
  database = await openDatabase({ url: pg.url, logger, migrations: {}, migrationTable: "loss_migrations" });
});
after(async () => {
  await database?.close();
  await pg?.destroy();
});

test("a held connection killed between queries is logged and replaced; the process lives on", async () => {
  await database.db.connection().execute(async (held) => {
    const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(held);
    const pid = rows[0]?.pid;
    assert.ok(pid);
    // Terminated from another connection of the pool while `held` runs no query.
    await sql`select pg_terminate_backend(${pid})`.execute(database.db);
    await waitFor(() => warnings.some((w) => /postgres connection error/.test(w)), {
      timeoutMs: 10_000,
      message: "the held connection's error, logged",
    });
    await assert.rejects(sql`select 1`.execute(held));
  });
  // The broken client left the pool: the next queries get working connections.
  for (let i = 0; i < 12; i++) await database.ping();
});
