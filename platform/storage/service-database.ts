// A service's database as the platform opens it (platform/service.ts): from the whole `database`
// config section, so every configured timeout reaches the pool, with a background ping for readiness
// and a close at shutdown. Services name their migrations only; none opens a database by hand.
import type { DatabaseConfig } from "../config-schema.ts";
import { type DatabaseHealth, watchDatabaseHealth } from "./health.ts";
import { type Database, type Migration, type OpenDatabaseOptions, openDatabase, type StorageLogger } from "./index.ts";

/** What a service says about its database: its schema. Where and how long to wait come from config. */
export interface ServiceDatabaseSpec {
  /** Migrations by name; applied in name order at start-up. */
  migrations: Record<string, Migration>;
  /** Per-service table recording applied migrations. */
  migrationTable: string;
}

// Every key of the config section is an option of openDatabase: a setting added to the section and
// not taken by openDatabase fails type checking here (its name is the error) instead of being dropped.
type Unpassed = Exclude<keyof DatabaseConfig, keyof OpenDatabaseOptions>;
const everyKeyPassed: [Unpassed] extends [never] ? true : Unpassed = true;
void everyKeyPassed;

/** The databases one service process opened: their readiness and their close. */
export class ServiceDatabases {
  readonly #config: DatabaseConfig | undefined;
  readonly #logger: StorageLogger;
  readonly #open: Array<{ database: Database<unknown>; health: DatabaseHealth }> = [];

  /** `config` is the process' `database` section (undefined when its schema has none). */
  constructor(config: DatabaseConfig | undefined, logger: StorageLogger) {
    this.#config = config;
    this.#logger = logger;
  }

  async open<DB>(spec: ServiceDatabaseSpec): Promise<Database<DB>> {
    if (!this.#config) throw new Error("openDatabase: this service's config schema has no `database` section");
    const database = await openDatabase<DB>({ ...this.#config, ...spec, logger: this.#logger });
    this.#open.push({ database: database as Database<unknown>, health: watchDatabaseHealth(database) });
    return database;
  }

  /** Why a database is not usable (its last ping failed), or undefined. */
  notReadyReason(): string | undefined {
    for (const { health } of this.#open) {
      const reason = health.notReadyReason();
      if (reason !== undefined) return reason;
    }
    return undefined;
  }

  async close(): Promise<void> {
    for (const { database, health } of this.#open.splice(0)) {
      health.stop();
      await database.close();
    }
  }
}
