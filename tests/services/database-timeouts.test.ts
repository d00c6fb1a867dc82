// Every service process opens its database with every configured timeout (the platform opens it from
// the whole `database` section: platform/storage/service-database.ts). Each service, found under
// services/, is started against PostgreSQL held up two ways, and must give up after the configured
// 300 ms, far below the 3 s / 5 s defaults: a statement that waits on a lock (statement timeout,
// cancelled by the server) and a server that accepts the connection and never answers (connect timeout).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pg from "pg";
import { localServices } from "../../scripts/lib/services.ts";
import { freePort } from "../harness/ports.ts";
import { PostgresProcess } from "../harness/postgres.ts";
import { ProcessHandle, TEST_JWT_SECRET } from "../harness/system.ts";
import { waitFor } from "../harness/wait.ts";

const TIMEOUT_MS = 300;
/** Well under both defaults (connect 3000 ms, statement 5000 ms), well over 300 ms on a busy machine. */
const BOUND_MS = 2_500;
const SERVICES = await localServices();

let postgres: PostgresProcess;
let dir: string;
before(async () => {
  postgres = await PostgresProcess.start();
  dir = mkdtempSync(join(tmpdir(), "dzug-db-timeouts-"));
});
after(async () => {
  await postgres?.destroy();
  if (dir && !process.env.DZUG_KEEP_TEST_LOGS) rmSync(dir, { recursive: true, force: true });
});

/** The service's migration table: the one `*_MIGRATION_TABLE` export of its migrations.ts. */
async function migrationTable(service: string): Promise<string> {
  const mod = (await import(`../../services/${service}/migrations.ts`)) as Record<string, unknown>;
  const [table] = Object.entries(mod).filter(([k, v]) => k.endsWith("_MIGRATION_TABLE") && typeof v === "string");
  if (!table) throw new Error(`services/${service}/migrations.ts exports no *_MIGRATION_TABLE`);
  return table[1] as string;
}

/** Starts one instance that reaches no etcd (it never gets that far) with `env` on top. */
async function startService(service: string, takesAuth: boolean, env: Record<string, string>): Promise<ProcessHandle> {
  return new ProcessHandle(
    `${service}-${env.DZUG_DATABASE_URL?.includes(String(postgres.port)) ? "statement" : "connect"}`,
    `services/${service}/main.ts`,
    {
      DZUG_ETCD_ENDPOINTS: `http://127.0.0.1:${await freePort()}`,
      DZUG_GRPC_HOST: "127.0.0.1",
      DZUG_GRPC_PORT: String(await freePort()),
      DZUG_ADMIN_PORT: String(await freePort()),
      DZUG_DATABASE_CONNECT_TIMEOUT_MS: String(TIMEOUT_MS),
      DZUG_DATABASE_STATEMENT_TIMEOUT_MS: String(TIMEOUT_MS),
      ...(takesAuth ? { DZUG_AUTH_JWT_SECRET: TEST_JWT_SECRET } : {}),
      ...env,
    },
    dir,
  );
}

test("each service's statements are cancelled after database.statementTimeoutMs", async () => {
  // One service at a time: the lock waits of one are counted in pg_stat_activity.
  for (const { name, takesAuth } of SERVICES) {
    {
      // The migration run takes this advisory lock first (platform/storage/index.ts): held here, the
      // service's statement waits on it until its statement timeout cancels it.
      const key = `dzug:migrate:${await migrationTable(name)}`;
      const holder = new pg.Client({ connectionString: postgres.url });
      await holder.connect();
      try {
        await holder.query("select pg_advisory_lock(hashtext($1))", [key]);
        const proc = await startService(name, takesAuth, { DZUG_DATABASE_URL: postgres.url });
        try {
          const waiting = async () => {
            const { rows } = await holder.query(
              "select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%pg_advisory_lock%' and pid <> pg_backend_pid()",
            );
            return rows[0].n as number;
          };
          await waitFor(async () => (await waiting()) === 1 || !proc.running, {
            timeoutMs: 30_000,
            message: `${name} waiting on the migration lock`,
          });
          const since = Date.now();
          await waitFor(async () => (await waiting()) === 0, { intervalMs: 10, message: `${name}'s wait to end` });
          const waitedMs = Date.now() - since;
          assert.ok(
            waitedMs < BOUND_MS,
            `${name} waited ${waitedMs} ms on a lock (statement timeout ${TIMEOUT_MS} ms)`,
          );
          assert.notEqual(await proc.exited, 0, `${name} should fail to start`);
          assert.match(proc.logs(), /statement timeout/, `${name}'s log:\n${proc.logs()}`);
        } finally {
          await proc.stop("SIGKILL");
        }
      } finally {
        await holder.end();
      }
    }
  }
});

test("each service gives up connecting after database.connectTimeoutMs", async () => {
  // A server that accepts connections and never answers PostgreSQL's start-up: only the client's
  // connect timeout ends the wait (it destroys the socket).
  const held: Array<{ socket: Socket; opened: number; closed?: number }> = [];
  const silent = createServer((socket: Socket) => {
    const entry: { socket: Socket; opened: number; closed?: number } = { socket, opened: Date.now() };
    held.push(entry);
    socket.on("error", () => {});
    socket.resume(); // read (and drop) the start-up message, so the client's close is seen
    socket.on("close", () => {
      entry.closed = Date.now();
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => silent.listen(port, "127.0.0.1", resolve));
  try {
    const procs = await Promise.all(
      SERVICES.map(({ name, takesAuth }) =>
        startService(name, takesAuth, { DZUG_DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/dzug` }),
      ),
    );
    try {
      const codes = await Promise.all(procs.map((p) => p.exited));
      for (const [i, code] of codes.entries()) {
        const proc = procs[i] as ProcessHandle;
        assert.notEqual(code, 0, `${proc.name} should fail to start`);
        assert.match(proc.logs(), /timeout/i, `${proc.name}'s log:\n${proc.logs()}`);
      }
      assert.ok(held.length >= SERVICES.length, `${held.length} connections for ${SERVICES.length} services`);
      // The close reaches this process after the exit may have: wait for it.
      await waitFor(() => held.every((h) => h.closed !== undefined), { message: "every connection closed" });
      for (const { opened, closed = Number.NaN } of held) {
        assert.ok(closed - opened < BOUND_MS, `a connection was held ${closed - opened} ms (timeout ${TIMEOUT_MS} ms)`);
      }
    } finally {
      await Promise.all(procs.map((p) => p.stop("SIGKILL")));
    }
  } finally {
    for (const { socket } of held) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});
