// Concurrent random follow/unfollow operations, and the checks that counts match the relation rows.
import assert from "node:assert/strict";
import { type Kysely, sql } from "kysely";
import { mulberry32 } from "../../scripts/lib/prng.ts";
import {
  AlreadyFollowingError,
  NotFollowingError,
  type RelationStore,
  type RelationTables,
} from "../../services/relation/store.ts";

export interface StormOptions {
  ops: number;
  /** Users are 1..users. */
  users: number;
  seed: number;
  /** Operations in flight at once. */
  concurrency: number;
}

/** Net successful operations per pair `a>b`: +1 per follow that succeeded, -1 per unfollow. */
export type NetByPair = Record<string, number>;

export async function runStorm(stores: RelationStore[], opts: StormOptions): Promise<NetByPair> {
  const rand = mulberry32(opts.seed);
  const plan = Array.from({ length: opts.ops }, () => {
    const a = 1 + Math.floor(rand() * opts.users);
    let b = 1 + Math.floor(rand() * (opts.users - 1));
    if (b >= a) b++;
    return { a, b, follow: rand() < 0.55, store: stores[Math.floor(rand() * stores.length)]! };
  });
  const net: NetByPair = {};
  let next = 0;
  const worker = async () => {
    while (next < plan.length) {
      const op = plan[next++]!;
      const key = `${op.a}>${op.b}`;
      try {
        if (op.follow) {
          await op.store.follow(op.a, op.b);
          net[key] = (net[key] ?? 0) + 1;
        } else {
          await op.store.unfollow(op.a, op.b);
          net[key] = (net[key] ?? 0) - 1;
        }
      } catch (err) {
        if (!(err instanceof AlreadyFollowingError || err instanceof NotFollowingError)) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return net;
}

export function mergeNet(...nets: NetByPair[]): NetByPair {
  const out: NetByPair = {};
  for (const n of nets) for (const [k, v] of Object.entries(n)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Relation rows agree with the successful operations, and every count equals COUNT(*) of rows. */
export async function assertConsistent(db: Kysely<RelationTables>, net: NetByPair, users: number): Promise<void> {
  const rows = await db.selectFrom("follows").select(["follower_id", "followee_id"]).execute();
  const present = new Set(rows.map((r) => `${r.follower_id}>${r.followee_id}`));
  for (const [pair, n] of Object.entries(net)) {
    assert.ok(n === 0 || n === 1, `pair ${pair}: net successful operations ${n}`);
    assert.equal(present.has(pair), n === 1, `pair ${pair}: row present vs. net ${n}`);
  }
  for (const pair of present) assert.equal(net[pair], 1, `row ${pair} without a successful follow`);
  const drift = await sql<{ user_id: number; follow_count: number; follower_count: number; fc: number; frc: number }>`
    select c.user_id, c.follow_count, c.follower_count,
      (select count(*) from follows f where f.follower_id = c.user_id) as fc,
      (select count(*) from follows f where f.followee_id = c.user_id) as frc
    from follow_counts c`.execute(db);
  for (const r of drift.rows) {
    assert.equal(Number(r.follow_count), Number(r.fc), `follow_count of user ${r.user_id}`);
    assert.equal(Number(r.follower_count), Number(r.frc), `follower_count of user ${r.user_id}`);
  }
  // Users without a counts row have no relation rows either.
  const counted = new Set(drift.rows.map((r) => Number(r.user_id)));
  for (let u = 1; u <= users; u++) {
    if (counted.has(u)) continue;
    assert.ok(
      ![...present].some((p) => p.startsWith(`${u}>`) || p.endsWith(`>${u}`)),
      `user ${u} has rows but no counts`,
    );
  }
}
