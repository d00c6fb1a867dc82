// Large follower lists for the list tests and the list benchmark (bench/lists.ts): seeded straight
// into the services' tables by SQL (a million registrations would only measure argon2), read back
// through the gateway as a stream, with the resident memory of the processes sampled meanwhile.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "kysely";
import { parse } from "yaml";
import { type Kysely, openDatabase } from "../../platform/storage/index.ts";
import { RELATION_MIGRATION_TABLE, relationMigrations } from "../../services/relation/migrations.ts";
import { USER_MIGRATION_TABLE, userMigrations } from "../../services/user/migrations.ts";

const quiet = { info() {}, warn() {}, error() {} };

/**
 * The V8 heap bounds the chart gives every dzug container (values.yaml `config.maxOldSpaceMiB` and
 * `config.maxSemiSpaceMiB`, read from there so the two cannot drift), for processes on a test host:
 * without them V8 sizes the heap from the host's memory (GiBs) and lets garbage accumulate far past
 * what a container allows, so RSS would measure V8's laziness rather than what the code keeps.
 */
export const CONTAINER_NODE_OPTIONS = containerNodeOptions();

function containerNodeOptions(): string {
  const values = parse(readFileSync(join(import.meta.dirname, "../../charts/dzug/values.yaml"), "utf8"));
  const { maxOldSpaceMiB, maxSemiSpaceMiB } = values.config;
  if (!Number.isInteger(maxOldSpaceMiB) || !Number.isInteger(maxSemiSpaceMiB)) {
    throw new Error("charts/dzug/values.yaml: config.maxOldSpaceMiB and config.maxSemiSpaceMiB must be integers");
  }
  return `--max-old-space-size=${maxOldSpaceMiB} --max-semi-space-size=${maxSemiSpaceMiB}`;
}

/** The seeded followers: ids first..last, contiguous, the newest relation being `last`'s. */
export interface Followers {
  first: number;
  last: number;
}

/**
 * `count` new users `<tag>-<n>`, each following `target`, in one transaction per database and one
 * statement per table (the rows made in SQL, not sent one by one): follower ids and relation seqs rise
 * together, so the list newest first is the ids from `last` down to `first`. Counts are kept consistent.
 */
export async function seedFollowers(url: string, target: number, count: number, tag: string): Promise<Followers> {
  const open = (migrations: typeof userMigrations, migrationTable: string) =>
    openDatabase<any>({ url, logger: quiet, migrations, migrationTable });
  const users = await open(userMigrations, USER_MIGRATION_TABLE);
  const relations = await open(relationMigrations, RELATION_MIGRATION_TABLE);
  const pg = users.dialect === "postgres";
  // n = 1..count, as rows: PostgreSQL's generate_series, SQLite's recursive CTE.
  const numbers = pg
    ? sql`select g as n from generate_series(1, ${count}) as g`
    : sql`with recursive c(n) as (select 1 union all select n + 1 from c where n < ${count}) select n from c`;
  const name = pg ? sql`${tag} || '-' || n` : sql`${tag} || '-' || n`;
  try {
    const ids = await (users.db as Kysely<any>).transaction().execute(async (trx) => {
      await sql`insert into users (username, username_key, password_hash)
        select ${name}, ${name}, 'not-a-hash: this account cannot log in' from (${numbers}) as s order by n`.execute(
        trx,
      );
      const r = await sql<{ first: number; last: number }>`select min(id) as first, max(id) as last from users
        where username like ${`${tag}-%`}`.execute(trx);
      return { first: Number(r.rows[0]?.first), last: Number(r.rows[0]?.last) };
    });
    if (ids.last - ids.first + 1 !== count) throw new Error(`seeded ids are not contiguous: ${JSON.stringify(ids)}`);
    await (relations.db as Kysely<any>).transaction().execute(async (trx) => {
      const range = sql`(${numbers}) as s`;
      await sql`insert into follows (follower_id, followee_id)
        select ${ids.first - 1} + n, ${target} from ${range} order by n`.execute(trx);
      await sql`insert into follow_counts (user_id, follow_count, follower_count)
        select ${ids.first - 1} + n, 1, 0 from ${range}`.execute(trx);
      await sql`insert into follow_counts (user_id, follow_count, follower_count)
        values (${target}, 0, ${count})`.execute(trx);
    });
    return ids;
  } finally {
    await users.close();
    await relations.close();
  }
}

/** Resident memory of a process now (VmRSS), in bytes. */
export function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) * 1024;
}

/** Samples the resident memory of some processes every `everyMs` until stopped: each one's peak. */
export class RssSampler {
  readonly baseline: Map<string, number>;
  readonly peak: Map<string, number>;
  readonly #pids: Map<string, number>;
  readonly #timer: NodeJS.Timeout;

  constructor(pids: Record<string, number>, everyMs = 50) {
    this.#pids = new Map(Object.entries(pids));
    this.baseline = new Map([...this.#pids].map(([name, pid]) => [name, rssBytes(pid)]));
    this.peak = new Map(this.baseline);
    this.#timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): void {
    for (const [name, pid] of this.#pids) {
      try {
        this.peak.set(name, Math.max(this.peak.get(name) ?? 0, rssBytes(pid)));
      } catch {
        // the process is gone (a test killed it): its peak so far stands
      }
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    this.sample();
  }

  /** Peak minus baseline of each process, in MiB. */
  growthMiB(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [name, base] of this.baseline) out[name] = ((this.peak.get(name) ?? base) - base) / 2 ** 20;
    return out;
  }
}

/** What readList found: the answer's ids in order checked against `expect`, and its size. */
export interface ListRead {
  status: number;
  entries: number;
  bytes: number;
  /** The first entry, parsed (its fields are checked by the caller). */
  first: Record<string, unknown> | undefined;
}

const PREFIX = '{"status_code":0,"status_msg":"success","user_list":[';

/**
 * GETs a list and reads its body as a stream, never holding it: checks the contract's envelope and
 * that the entries' ids are `expectIds(i)` for the i-th entry (i from 0). Throws on the first mismatch
 * or when the body ends early (a truncated answer is a transport error).
 */
export async function readList(url: string, expectId: (i: number) => number): Promise<ListRead> {
  const res = await fetch(url);
  const out: ListRead = { status: res.status, entries: 0, bytes: 0, first: undefined };
  if (!res.body) throw new Error("no body");
  const decoder = new TextDecoder();
  let text = "";
  let started = false;
  const check = (part: string) => {
    const id = Number.parseInt(part, 10);
    if (id !== expectId(out.entries))
      throw new Error(`entry ${out.entries}: id ${id}, expected ${expectId(out.entries)}`);
    if (out.entries === 0) out.first = JSON.parse(`{"id":${part.replace(/,$/, "").replace(/\]\}$/, "")}`);
    out.entries++;
  };
  const MARK = '{"id":';
  for await (const chunk of res.body) {
    out.bytes += chunk.length;
    text += decoder.decode(chunk, { stream: true });
    if (!started) {
      if (text.length < PREFIX.length) continue;
      if (!text.startsWith(PREFIX)) break; // an error answer: parsed below
      text = text.slice(PREFIX.length);
      started = true;
    }
    // `text` starts at an entry's MARK (or is the closing "]}"); every entry followed by another is whole.
    let pos = 0;
    for (let next = text.indexOf(MARK, 1); next > 0; next = text.indexOf(MARK, pos + 1)) {
      check(text.slice(pos + MARK.length, next));
      pos = next;
    }
    text = text.slice(pos);
  }
  text += decoder.decode();
  if (!started) return { ...out, first: text === "" ? undefined : JSON.parse(text) };
  if (!text.endsWith("]}")) throw new Error(`the answer does not end with ]}: …${text.slice(-40)}`);
  if (text !== "]}") check(text.slice(MARK.length));
  return out;
}
