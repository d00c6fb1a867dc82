// Backend-neutral classification of database errors.
import { sqliteResultCode } from "./sqlite.ts";

function pgCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** SQLITE_CONSTRAINT_UNIQUE (2067) and SQLITE_CONSTRAINT_PRIMARYKEY (1555) extended result codes. */
const SQLITE_UNIQUE_CODES = new Set([2067, 1555]);

/** True for a unique or primary-key violation on either backend (PostgreSQL 23505, SQLite 2067/1555). */
export function isUniqueViolation(err: unknown): boolean {
  if (pgCode(err) === "23505") return true;
  if (typeof err === "object" && err !== null) {
    const code = (err as { errcode?: unknown }).errcode;
    if (typeof code === "number" && SQLITE_UNIQUE_CODES.has(code)) return true;
  }
  return false;
}

/**
 * True when a transaction failed only because of concurrency and can simply be run again:
 * PostgreSQL deadlock (40P01) or serialization failure (40001); SQLite busy/locked after the driver's
 * own waiting gave up.
 */
export function isTransientTransactionError(err: unknown): boolean {
  const code = pgCode(err);
  if (code === "40P01" || code === "40001") return true;
  const rc = sqliteResultCode(err);
  return rc === 5 || rc === 6;
}
