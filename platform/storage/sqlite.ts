// A Kysely dialect over Node's built-in `node:sqlite` (DatabaseSync): no native addon to compile.
//
// Several processes (2× user, 2× relation locally) share one database file, so:
// - WAL journal: readers never block the writer nor the writer the readers;
// - every read-write transaction starts with BEGIN IMMEDIATE, which takes the write lock up front, so
//   a transaction never has to upgrade a read lock (a deferred upgrade fails with SQLITE_BUSY at once,
//   whatever the busy timeout);
// - a busy database is waited for *asynchronously*: node:sqlite is synchronous, so SQLite's own busy
//   handler would freeze the event loop while it sleeps (gRPC, health probes) and, with two handles
//   in one process, the holder of the lock could never finish. The engine's busy_timeout is therefore
//   0 and the driver retries a statement that failed with SQLITE_BUSY with a short back-off until
//   `busyTimeoutMs` (default 5000) has passed. Only statements that cannot have changed anything are
//   retried: BEGIN, COMMIT (which stays pending on BUSY), and statements outside a transaction.
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { setTimeout as delay } from "node:timers/promises";
import {
  type CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type TransactionSettings,
} from "kysely";
import { backoffDelay } from "../backoff.ts";

export interface NodeSqliteOptions {
  /** File path (created with its parent directory), or `:memory:`. */
  path: string;
  /** How long a statement waits for another connection's write lock before failing (default 5000). */
  busyTimeoutMs?: number;
}

/** SQLite supports transactional DDL; saying so makes Kysely's Migrator run inside BEGIN IMMEDIATE. */
export class NodeSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

export class NodeSqliteDialect implements Dialect {
  readonly #options: NodeSqliteOptions;

  constructor(options: NodeSqliteOptions) {
    this.#options = options;
  }

  createDriver(): Driver {
    return new NodeSqliteDriver(this.#options);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new NodeSqliteAdapter();
  }

  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

/** The primary result code of a node:sqlite error (`errcode` carries the extended code), else undefined. */
export function sqliteResultCode(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { errcode?: unknown }).errcode;
  return typeof code === "number" ? code & 0xff : undefined;
}

const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;

export function isSqliteBusy(err: unknown): boolean {
  const code = sqliteResultCode(err);
  return code === SQLITE_BUSY || code === SQLITE_LOCKED;
}

function bindable(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value instanceof Date) return value.toISOString();
  return value;
}

class NodeSqliteDriver implements Driver {
  readonly #options: NodeSqliteOptions;
  readonly #mutex = new Mutex();
  #connection: NodeSqliteConnection | undefined;

  constructor(options: NodeSqliteOptions) {
    this.#options = options;
  }

  async init(): Promise<void> {
    const path = this.#options.path;
    if (path !== ":memory:") mkdirSync(dirname(resolve(path)), { recursive: true });
    const db = new DatabaseSync(path, { timeout: 0, enableForeignKeyConstraints: true });
    const conn = new NodeSqliteConnection(db, this.#options.busyTimeoutMs ?? 5000);
    this.#connection = conn;
    try {
      // Switching to WAL needs a moment of exclusive access: retried like any busy statement.
      if (path !== ":memory:") await conn.run("pragma journal_mode = wal");
      await conn.run("pragma synchronous = normal");
      await conn.run("pragma foreign_keys = on");
      await conn.run("pragma busy_timeout = 0");
    } catch (err) {
      db.close();
      this.#connection = undefined;
      throw err;
    }
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#mutex.lock();
    if (!this.#connection) {
      this.#mutex.unlock();
      throw new Error("sqlite driver is not initialised or already destroyed");
    }
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const conn = connection as NodeSqliteConnection;
    // A read-only transaction takes no write lock (a WAL snapshot); everything else locks up front.
    await conn.run(settings.accessMode === "read only" ? "begin deferred" : "begin immediate");
    conn.inTransaction = true;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const conn = connection as NodeSqliteConnection;
    await conn.run("commit");
    conn.inTransaction = false;
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const conn = connection as NodeSqliteConnection;
    conn.inTransaction = false;
    try {
      await conn.run("rollback");
    } catch (err) {
      // SQLite may already have rolled the transaction back itself (e.g. after SQLITE_FULL).
      if (!(err instanceof Error && /no transaction is active/i.test(err.message))) throw err;
    }
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await (connection as NodeSqliteConnection).run(`savepoint "${name.replaceAll('"', '""')}"`);
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await (connection as NodeSqliteConnection).run(`rollback to "${name.replaceAll('"', '""')}"`);
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await (connection as NodeSqliteConnection).run(`release "${name.replaceAll('"', '""')}"`);
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  async destroy(): Promise<void> {
    const conn = this.#connection;
    this.#connection = undefined;
    conn?.close();
  }
}

const STATEMENT_CACHE_SIZE = 256;

class NodeSqliteConnection implements DatabaseConnection {
  readonly #db: DatabaseSync;
  readonly #busyTimeoutMs: number;
  readonly #statements = new Map<string, { stmt: StatementSync; reader: boolean }>();
  inTransaction = false;

  constructor(db: DatabaseSync, busyTimeoutMs: number) {
    this.#db = db;
    this.#busyTimeoutMs = busyTimeoutMs;
  }

  close(): void {
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
  }

  /** Runs a statement without results (pragmas, transaction control), waiting out a busy database. */
  async run(sql: string): Promise<void> {
    await this.#withBusyRetry(() => {
      this.#db.exec(sql);
    }, true);
  }

  #prepare(sql: string): { stmt: StatementSync; reader: boolean } {
    let entry = this.#statements.get(sql);
    if (entry) {
      // Refresh recency (Map keeps insertion order: the first key is the least recently used).
      this.#statements.delete(sql);
      this.#statements.set(sql, entry);
      return entry;
    }
    const stmt = this.#db.prepare(sql);
    entry = { stmt, reader: stmt.columns().length > 0 };
    this.#statements.set(sql, entry);
    if (this.#statements.size > STATEMENT_CACHE_SIZE) {
      const oldest = this.#statements.keys().next().value;
      if (oldest !== undefined) this.#statements.delete(oldest);
    }
    return entry;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const params = compiledQuery.parameters.map(bindable) as never[];
    return this.#withBusyRetry(() => {
      const { stmt, reader } = this.#prepare(compiledQuery.sql);
      if (reader) return { rows: stmt.all(...params) as R[] };
      const { changes, lastInsertRowid } = stmt.run(...params);
      return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
    }, !this.inTransaction);
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const params = compiledQuery.parameters.map(bindable) as never[];
    const { stmt } = this.#prepare(compiledQuery.sql);
    for (const row of stmt.iterate(...params)) yield { rows: [row as R] };
  }

  async #withBusyRetry<T>(fn: () => T, retry: boolean): Promise<T> {
    const deadline = Date.now() + this.#busyTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return fn();
      } catch (err) {
        if (!retry || !isSqliteBusy(err) || Date.now() >= deadline) throw err;
      }
      // Jittered exponential back-off, capped, so contending processes don't retry in lock-step.
      const wait = backoffDelay({ initialMs: 1, maxMs: 25 }, attempt);
      await delay(Math.max(1, Math.min(wait, deadline - Date.now())));
    }
  }
}

class Mutex {
  #held = false;
  readonly #waiters: Array<() => void> = [];

  async lock(): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  unlock(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#held = false;
  }
}
