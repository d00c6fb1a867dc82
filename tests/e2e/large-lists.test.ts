// Lists of any size in bounded memory: a user with 1,000,000 followers gets all of them, newest
// first, through the gateway, while the gateway's and relation's resident memory stays bounded
// (relation streams the list in pages, the gateway writes it as it arrives; GROWTH_LIMIT_MIB); a list more
// than lists.maxConcurrentStreams is answered busy; a list whose stream breaks midway ends in a
// truncated answer. The relations are written straight into the services' tables in one transaction
// (a million registrations would only measure argon2); everything read goes through the system.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { CONTAINER_NODE_OPTIONS, RssSampler, readList, seedFollowers } from "../harness/big-list.ts";
import { USER_FIELDS } from "../harness/douyin.ts";
import { PostgresProcess } from "../harness/postgres.ts";
import { call, DzugSystem } from "../harness/system.ts";

const MiB = 2 ** 20;
/**
 * Growth of each process's RSS while a list of a million streams: the target, 64 MiB, for both. It
 * holds with the chart's heap bounds (CONTAINER_NODE_OPTIONS); with the old-generation bound alone
 * V8's young generation shrank with it and relation grew ~110 MiB (docs/benchmarks.md, "Lists").
 */
const GROWTH_LIMIT_MIB = 64;

async function target(sys: DzugSystem, tag: string): Promise<{ id: number; token: string }> {
  const reg = await call(sys.url, "POST", "/douyin/user/register/", { username: tag, password: "secret123" });
  assert.equal(reg.body.status_code, 0, JSON.stringify(reg.body));
  return { id: reg.body.user_id, token: reg.body.token };
}

const listUrl = (sys: DzugSystem, t: { id: number; token: string }) =>
  `${sys.url}/douyin/relation/follower/list/?${new URLSearchParams({ token: t.token, user_id: String(t.id) })}`;

function pid(p: { child: { pid?: number | undefined } } | undefined): number {
  const n = p?.child.pid;
  if (n === undefined) throw new Error("process without a pid");
  return n;
}

describe("lists of any size", { timeout: 900_000 }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  test("1,000,000 followers on SQLite: complete, newest first, RSS growth of gateway and relation ≤ 64 MiB; one list too many is busy", async () => {
    // One list at a time, so the second request below is the one too many; the heap bounded as the
    // chart bounds it (CONTAINER_NODE_OPTIONS).
    const sys = await DzugSystem.start({
      users: 1,
      relations: 1,
      env: { DZUG_LISTS_MAX_CONCURRENT_STREAMS: "1", NODE_OPTIONS: CONTAINER_NODE_OPTIONS },
    });
    cleanups.push(() => sys.destroy());
    const me = await target(sys, "million");
    const seeded = performance.now();
    const { first, last } = await seedFollowers(sys.databaseUrl, me.id, 1_000_000, "million");
    const seedMs = performance.now() - seeded;
    // Warm-up: a list of one page (the target's own following list is empty; a follower's has one
    // entry), so code paths and connections exist before the baseline is taken.
    const warm = await readList(listUrl(sys, me).replace("follower/list", "follow/list"), () => 0);
    assert.equal(warm.entries, 0);

    const relation = sys.instances.find((i) => i.service === "relation");
    const rss = new RssSampler({ gateway: pid(sys.gateway), relation: pid(relation) });
    const started = performance.now();
    const reading = readList(listUrl(sys, me), (i) => last - i);
    // While it streams, a second list is refused at once with the contract's busy answer.
    const busy = await call(sys.url, "GET", "/douyin/relation/follow/list/", { token: me.token, user_id: me.id });
    assert.equal(busy.status, 503);
    assert.equal(busy.body.status_code, 50302, JSON.stringify(busy.body));
    const r = await reading;
    const ms = performance.now() - started;
    rss.stop();
    assert.equal(r.status, 200);
    assert.equal(r.entries, last - first + 1, "every follower, newest first");
    assert.deepEqual(Object.keys(r.first ?? {}).sort(), USER_FIELDS);
    assert.equal(r.first?.follow_count, 1);
    assert.equal(r.first?.is_follow, false);
    const growth = rss.growthMiB();
    const peaks = [...rss.peak].map(([n, b]) => `${n} ${Math.round(b / MiB)} MiB (+${growth[n]?.toFixed(1)})`);
    process.stdout.write(
      `# 1,000,000 followers: seeded in ${Math.round(seedMs)} ms, read in ${Math.round(ms)} ms ` +
        `(${Math.round(r.bytes / MiB)} MiB); peak RSS ${peaks.join(", ")}\n`,
    );
    for (const [name, mib] of Object.entries(growth)) {
      const limit = GROWTH_LIMIT_MIB;
      assert.ok(mib <= limit, `${name} grew ${mib.toFixed(1)} MiB (> ${limit}) while the list streamed`);
    }
  });

  test("50,000 followers on PostgreSQL; a relation that dies midway leaves a truncated answer", async () => {
    const pg = await PostgresProcess.start();
    cleanups.push(() => pg.destroy());
    const sys = await DzugSystem.start({ users: 1, relations: 1, databaseUrl: pg.url });
    cleanups.push(() => sys.destroy());
    const me = await target(sys, "big-pg");
    const { first, last } = await seedFollowers(sys.databaseUrl, me.id, 50_000, "big-pg");
    const r = await readList(listUrl(sys, me), (i) => last - i);
    assert.equal(r.entries, last - first + 1);
    const profile = await call(sys.url, "GET", "/douyin/user/", { token: me.token });
    assert.equal(profile.body.user.follower_count, 50_000);

    // The relation instance is killed after the answer began: the body must not end as valid JSON.
    const relation = sys.instances.find((i) => i.service === "relation");
    const res = await fetch(listUrl(sys, me));
    assert.equal(res.status, 200);
    const reader = res.body?.getReader();
    assert.ok(reader);
    await reader.read(); // the answer began
    relation?.child.kill("SIGKILL");
    let text = "";
    const decoder = new TextDecoder();
    await assert.rejects(async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    }, "the body ends in a transport error, not a complete answer");
    assert.ok(!text.endsWith("]}"), "no well-formed partial list");
  });
});
