// One query layer (Kysely) over two backends: node:sqlite for local runs, PostgreSQL (pg) for real
// deployments. See docs/storage.md.
import { type Dialect, Kysely, type Migration, type MigrationResult, Migrator, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { isTransientTransactionError } from "./errors.ts";
import { NodeSqliteAdapter, NodeSqliteDialect } from "./sqlite.ts";

export type { Kysely, Migration } from "kysely";
export { type CompiledRunner, compileOnce } from "./compiled.ts";
export { isTransientTransactionError, isUniqueViolation } from "./errors.ts";

/**
 * Ids per `IN (…)` list of one query: well under SQLite's bound-parameter limit and PostgreSQL's, and
 * small enough that a query over a long list is several short ones.
 */
export const IN_LIST_CHUNK = 500;

export type DatabaseDialect = "sqlite" | "postgres";

/** The subset of a pino logger that storage uses. */
export interface StorageLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface OpenDatabaseOptions {
  /** `sqlite:<path>` (relative to the working directory), `sqlite::memory:`, or `postgres://…`. */
  url: string;
  logger: StorageLogger;
  /** Migrations by name; applied in name order at start-up. */
  migrations: Record<string, Migration>;
  /** Per-service table recording applied migrations (its lock table is `<name>_lock`). */
  migrationTable: string;
  /** PostgreSQL pool size (default 10). */
  poolMax?: number;
  /** SQLite: how long to wait for another connection's write lock (default 5000 ms). */
  busyTimeoutMs?: number;
  /** PostgreSQL: connection timeout (config database.connectTimeoutMs; default 3000 ms). */
  connectTimeoutMs?: number;
  /** PostgreSQL: statement timeout (config database.statementTimeoutMs; default 5000 ms). */
  statementTimeoutMs?: number;
}

export interface Database<DB> {
  readonly db: Kysely<DB>;
  readonly dialect: DatabaseDialect;
  /** Runs `select 1`: for readiness probes. */
  ping(): Promise<void>;
  /** Closes the pool / file; idempotent. */
  close(): Promise<void>;
}

export interface ParsedDatabaseUrl {
  dialect: DatabaseDialect;
  /** SQLite file path (or `:memory:`); PostgreSQL connection string. */
  target: string;
}

/** Parses `database.url`; throws a message naming the key and its variable for anything else. */
export function parseDatabaseUrl(url: string): ParsedDatabaseUrl {
  if (url.startsWith("sqlite:")) {
    let path = url.slice("sqlite:".length);
    // `sqlite:///abs/path` and `sqlite://rel/path` are accepted too.
    if (path.startsWith("//")) path = path.slice(2);
    if (path === "") throw new Error("database.url (DZUG_DATABASE_URL): `sqlite:` needs a file path");
    return { dialect: "sqlite", target: path };
  }
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) {
    return { dialect: "postgres", target: url };
  }
  throw new Error(
    `database.url (DZUG_DATABASE_URL): expected sqlite:<path> or postgres://…, got ${JSON.stringify(redactUrl(url))}`,
  );
}

/** The URL with any password replaced by `***`, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, "$1***@");
}

/** Which backend a Kysely instance (or a transaction of it) talks to: for dialect-specific migrations. */
export function dialectOf(db: Kysely<any>): DatabaseDialect {
  return db.getExecutor().adapter instanceof NodeSqliteAdapter ? "sqlite" : "postgres";
}

/** int8 (oid 20) as a JS number: ids and counts are int64 but stay below 2^53. */
function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(`int8 value ${value} does not fit in a JS number`);
  }
  return n;
}

const pgTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === 20 && format !== "binary") return parseInt8;
    return pg.types.getTypeParser(oid, format as "text");
  }) as pg.CustomTypesConfig["getTypeParser"],
};

/** Opens the database named by `url`, applies pending migrations (safely under concurrent start-ups). */
export async function openDatabase<DB>(opts: OpenDatabaseOptions): Promise<Database<DB>> {
  const parsed = parseDatabaseUrl(opts.url);
  let dialect: Dialect;
  if (parsed.dialect === "sqlite") {
    dialect = new NodeSqliteDialect({
      path: parsed.target,
      ...(opts.busyTimeoutMs !== undefined ? { busyTimeoutMs: opts.busyTimeoutMs } : {}),
    });
  } else {
    const statementTimeoutMs = opts.statementTimeoutMs ?? 5_000;
    const pool = new pg.Pool({
      connectionString: parsed.target,
      max: opts.poolMax ?? 10,
      types: pgTypes,
      // Without these a database that stops answering holds every call until the caller's deadline.
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 3_000,
      statement_timeout: statementTimeoutMs,
      // The server cannot cancel a statement when it is unreachable: the client gives up too.
      query_timeout: statementTimeoutMs + 1_000,
    });
    // An idle client losing its server connection emits on the pool; without a listener that crashes.
    pool.on("error", (err) => opts.logger.warn({ err }, "postgres pool client error"));
    // pg-pool listens only while a client is idle; one checked out between two queries (in a
    // transaction, or just acquired) emits its connection's death to nobody: an uncaught exception that
    // ended the process. Every client gets a listener for its whole life; the failed query rejects on
    // its own, and the pool drops the client when it comes back unqueryable.
    pool.on("connect", (client) => {
      client.on("error", (err) => opts.logger.warn({ err }, "postgres connection error"));
    });
    dialect = new PostgresDialect({ pool });
  }
  const db = new Kysely<DB>({ dialect });
  let closed = false;
  const handle: Database<DB> = {
    db,
    dialect: parsed.dialect,
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
  try {
    await migrate(db as Kysely<any>, parsed.dialect, opts);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle;
}

async function migrate(db: Kysely<any>, dialect: DatabaseDialect, opts: OpenDatabaseOptions): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(opts.migrationTable)) {
    throw new Error(`migrationTable must be a lower-case SQL identifier, got ${JSON.stringify(opts.migrationTable)}`);
  }
  const run = async (conn: Kysely<any>) => {
    const migrator = new Migrator({
      db: conn,
      provider: { getMigrations: async () => opts.migrations },
      migrationTableName: opts.migrationTable,
      migrationLockTableName: `${opts.migrationTable}_lock`,
    });
    const { error, results } = await migrator.migrateToLatest();
    logResults(opts.logger, opts.migrationTable, results);
    if (error) throw error instanceof Error ? error : new Error(`migration failed: ${String(error)}`);
  };
  const started = Date.now();
  if (dialect === "postgres") {
    // One session-level advisory lock per migration table, held on one connection around the whole
    // Migrator run (including its own CREATE TABLE IF NOT EXISTS steps, which race on PostgreSQL).
    await db.connection().execute(async (conn) => {
      const key = `dzug:migrate:${opts.migrationTable}`;
      await sql`select pg_advisory_lock(hashtext(${key}))`.execute(conn);
      try {
        await run(conn);
      } finally {
        await sql`select pg_advisory_unlock(hashtext(${key}))`.execute(conn);
      }
    });
  } else {
    // SQLite: the Migrator runs the pending migrations in one transaction, which our driver begins
    // with BEGIN IMMEDIATE: concurrent start-ups queue on the write lock and re-read the migration
    // table inside it, so each migration is applied once. Its CREATE TABLE IF NOT EXISTS steps are
    // single statements, serialized by SQLite itself. A start-up that loses a race on them retries.
    for (let attempt = 1; ; attempt++) {
      try {
        await run(db);
        break;
      } catch (err) {
        if (attempt >= 5 || !isTransientTransactionError(err)) throw err;
      }
    }
  }
  opts.logger.info(
    { url: redactUrl(opts.url), migrationTable: opts.migrationTable, dialect, ms: Date.now() - started },
    "database ready",
  );
}

function logResults(logger: StorageLogger, table: string, results: MigrationResult[] | undefined): void {
  for (const r of results ?? []) {
    const entry = { migrationTable: table, migration: r.migrationName, direction: r.direction, status: r.status };
    if (r.status === "Error") logger.error(entry, "migration failed");
    else logger.info(entry, "migration applied");
  }
}

/**
 * Runs `fn` in a transaction, running it again (up to `attempts` times in all) when it failed only
 * because of concurrency (PostgreSQL deadlock / serialization failure, SQLite busy).
 */
export async function inTransaction<DB, T>(
  db: Kysely<DB>,
  fn: (trx: Kysely<DB>) => Promise<T>,
  attempts = 5,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(fn);
    } catch (err) {
      if (attempt >= attempts || !isTransientTransactionError(err)) throw err;
    }
  }
}
