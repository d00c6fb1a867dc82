// Column pieces that differ per backend, for services' migrations.
import { type Kysely, sql } from "kysely";
import { dialectOf } from "./index.ts";

/** Milliseconds since the epoch, as an int8 column default (sub-millisecond clock on both backends). */
export function epochMsDefault(db: Kysely<any>) {
  return dialectOf(db) === "postgres"
    ? sql`((extract(epoch from clock_timestamp()) * 1000)::bigint)`
    : sql`(cast(unixepoch('subsec') * 1000 as integer))`;
}
