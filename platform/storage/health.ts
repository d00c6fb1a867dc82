// Readiness of a database: a background ping every few seconds; /readyz reads the last outcome.
import type { Database } from "./index.ts";

export interface DatabaseHealth {
  /** Why the database is not usable, or undefined when the last ping succeeded. */
  notReadyReason(): string | undefined;
  stop(): void;
}

export function watchDatabaseHealth(database: Pick<Database<unknown>, "ping">, intervalMs = 2_000): DatabaseHealth {
  let reason: string | undefined;
  let running = false;
  const ping = async () => {
    if (running) return;
    running = true;
    try {
      await database.ping();
      reason = undefined;
    } catch (err) {
      reason = `database unreachable: ${(err as Error).message}`;
    } finally {
      running = false;
    }
  };
  const timer = setInterval(ping, intervalMs);
  timer.unref();
  return { notReadyReason: () => reason, stop: () => clearInterval(timer) };
}
