// The bulkhead that bounds password hashing: at most N run, M wait, the rest refused at once, and a
// waiting caller that gives up never starts its job.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Bulkhead, BulkheadFullError } from "../../platform/bulkhead.ts";

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

test("runs maxConcurrent, queues maxQueued, refuses the rest, then drains in order", async () => {
  const b = new Bulkhead({ maxConcurrent: 2, maxQueued: 1 });
  const g = gate();
  const started: number[] = [];
  const job = (i: number) => () => {
    started.push(i);
    return g.opened.then(() => i);
  };
  const running = [b.run(job(1)), b.run(job(2)), b.run(job(3))];
  assert.deepEqual(started, [1, 2]);
  assert.equal(b.queued, 1);
  await assert.rejects(b.run(job(4)), BulkheadFullError);
  g.open();
  assert.deepEqual(await Promise.all(running), [1, 2, 3]);
  assert.deepEqual(started, [1, 2, 3]);
  assert.deepEqual([b.running, b.queued], [0, 0]);
});

test("a waiting caller whose signal aborts leaves the queue and its job never runs", async () => {
  const b = new Bulkhead({ maxConcurrent: 1, maxQueued: 5 });
  const g = gate();
  const first = b.run(() => g.opened);
  const ctl = new AbortController();
  let ran = false;
  const waiting = b.run(async () => {
    ran = true;
  }, ctl.signal);
  ctl.abort(new Error("caller gave up"));
  await assert.rejects(waiting, /caller gave up/);
  assert.equal(b.queued, 0);
  g.open();
  await first;
  assert.equal(ran, false);
  await assert.rejects(
    b.run(async () => 1, ctl.signal),
    /caller gave up/,
    "an aborted caller is refused at once",
  );
});

test("waiting jobs: the priority queue first, then one job per client key in turn", async () => {
  const b = new Bulkhead({ maxConcurrent: 1, maxQueued: 10, maxQueuedPerKey: 3 });
  const g = gate();
  const order: string[] = [];
  const job = (name: string, wait?: Promise<void>) => async () => {
    order.push(name);
    await wait;
    return name;
  };
  const all = [b.run(job("first", g.opened), { key: "flood" })];
  for (let i = 0; i < 3; i++) all.push(b.run(job(`flood-${i}`), { key: "flood" }));
  await assert.rejects(b.run(job("flood-3"), { key: "flood" }), BulkheadFullError, "per-key cap");
  all.push(b.run(job("alice"), { key: "alice" }));
  all.push(b.run(job("bob"), { key: "bob" }));
  all.push(b.run(job("device"), { key: "carol", priority: true }));
  assert.equal(b.queued, 6);
  g.open();
  await Promise.all(all);
  assert.deepEqual(order, ["first", "device", "flood-0", "alice", "bob", "flood-1", "flood-2"]);
});
