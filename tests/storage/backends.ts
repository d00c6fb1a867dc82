// Runs the same suite against both backends: SQLite (a temp file per database) and PostgreSQL
// (one real server per test file, a fresh database per call of `freshUrl`).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe } from "node:test";
import { pino } from "pino";
import { type Database, type DatabaseDialect, type Migration, openDatabase } from "../../platform/storage/index.ts";
import { PostgresProcess } from "../harness/postgres.ts";

export const silentLogger = pino({ level: "silent" });

export interface Backend {
  readonly kind: DatabaseDialect;
  /** The URL of a new, empty database. */
  freshUrl(): Promise<string>;
  /** Opens a handle (closed after the suite). */
  open<DB>(url: string, migrations: Record<string, Migration>, migrationTable: string): Promise<Database<DB>>;
}

export function eachBackend(fn: (backend: Backend) => void): void {
  for (const kind of ["sqlite", "postgres"] as const) {
    describe(kind, () => {
      let dir = "";
      let server: PostgresProcess | undefined;
      let n = 0;
      const handles: Array<Database<unknown>> = [];
      before(async () => {
        if (kind === "sqlite") dir = mkdtempSync(join(tmpdir(), "dzug-sqlite-"));
        else server = await PostgresProcess.start();
      });
      after(async () => {
        await Promise.allSettled(handles.map((h) => h.close()));
        if (server) await server.destroy();
        if (dir) rmSync(dir, { recursive: true, force: true });
      });
      fn({
        kind,
        async freshUrl() {
          n++;
          if (kind === "sqlite") return `sqlite:${join(dir, `db${n}`, "dzug.db")}`;
          if (!server) throw new Error("postgres not started");
          return server.newDatabase();
        },
        async open<DB>(url: string, migrations: Record<string, Migration>, migrationTable: string) {
          const handle = await openDatabase<DB>({ url, logger: silentLogger, migrations, migrationTable });
          handles.push(handle as Database<unknown>);
          return handle;
        },
      });
    });
  }
}
