// Load-aware balancing against real processes and real etcd: three registered echo instances, one
// of which answers slowly while in slow mode (SIGUSR2 toggles it; its answers stay correct; 300 ms,
// far above the scheduling noise of a busy machine). Under a closed-loop load the share of p2c-ewma
// and least-request moves away from the slow instance, while random keeps a third on it; once it is
// fast again p2c-ewma's share comes back. Slow start: an
// instance registered while others serve gets a small share first, its full one after the window.
// Shares are asserted with wide margins: the figures hold on a busy machine.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, test } from "node:test";
import { BALANCING_DEFAULTS, Discovery, type StrategyName } from "../../platform/discovery/index.ts";
import { UserServiceDefinition } from "../../proto/gen/dzug/user/v1/user.ts";
import { waitFor } from "../harness/wait.ts";
import { type ChildInstance, captureLogger, newRegistry, spawnInstance, useEtcd } from "./helpers.ts";

const fx = useEtcd();
const prefix = `/t-${randomBytes(3).toString("hex")}`;
let children: ChildInstance[] = [];
let discovery: Discovery;

// Started by the first test (useEtcd's own `before` has run by then).
let started: Promise<void> | undefined;
const setup = () => {
  started ??= start();
  return started;
};

async function start(): Promise<void> {
  children = await Promise.all(
    [0, 1, 2].map(() =>
      spawnInstance({ endpoint: fx.etcd.endpoint, prefix, service: "echo", ttlSeconds: 5, delayMs: 1, slowMs: 300 }),
    ),
  );
  discovery = new Discovery({
    etcd: fx.client,
    prefix,
    logger: captureLogger().logger,
    metrics: newRegistry(),
    // A short τ and force-pick interval so that recovery shows within seconds (defaults: 10 s, 1 s).
    balancing: {
      ...BALANCING_DEFAULTS,
      decayMs: 1_000,
      forcePickMs: 200,
      slowStart: { windowMs: 6_000, aggression: 1, minWeightPercent: 5 },
    },
  });
  await waitFor(() => discovery.watch("echo").instances().length === 3, { message: "3 instances listed" });
}

after(async () => {
  await discovery?.close();
  for (const c of children) c.child.kill("SIGKILL");
  await Promise.all(children.map((c) => c.exited));
});

/** Share of answers per instance id over `ms` of a closed loop of `workers` concurrent callers. */
async function run(strategy: StrategyName, ms: number, workers = 6): Promise<Map<string, number>> {
  const client = discovery.client("echo", UserServiceDefinition, { strategy });
  const counts = new Map<string, number>();
  let total = 0;
  const end = Date.now() + ms;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (Date.now() < end) {
        const r = await client.getUser({ id: 1 });
        const id = r.user?.name ?? "?";
        counts.set(id, (counts.get(id) ?? 0) + 1);
        total++;
      }
    }),
  );
  return new Map([...counts].map(([id, n]) => [id, n / total]));
}

const show = (m: Map<string, number>) =>
  `${[...m].map(([id, s]) => `${id.slice(-4)}=${s.toFixed(2)}`).join(" ")}; slow ${children[0]?.id.slice(-4)}; ` +
  JSON.stringify(
    discovery.snapshot()[0]?.instances.map((i) => [i.record.id.slice(-4), i.latencyMs.toFixed(1), i.score?.toFixed(3)]),
  );

test("the share moves away from a slow instance and back when it recovers; random stays even", async () => {
  await setup();
  const slow = children[0] as ChildInstance;
  await run("p2c-ewma", 300); // every instance answered once: no cold ones
  slow.child.kill("SIGUSR2"); // slow mode on
  try {
    const p2c = await run("p2c-ewma", 1_500);
    assert.ok((p2c.get(slow.id) ?? 0) < 0.2, `p2c-ewma: slow share ${show(p2c)}`);
    const lr = await run("least-request", 1_500);
    assert.ok((lr.get(slow.id) ?? 0) < 0.25, `least-request: slow share ${show(lr)}`);
    const rnd = await run("random", 1_500);
    assert.ok((rnd.get(slow.id) ?? 0) > 0.2, `random keeps its third: ${show(rnd)}`);
  } finally {
    slow.child.kill("SIGUSR2"); // fast again
  }
  let last = new Map<string, number>();
  await waitFor(
    async () => {
      last = await run("p2c-ewma", 500);
      return (last.get(slow.id) ?? 0) > 0.2;
    },
    { timeoutMs: 20_000, message: "p2c-ewma's share back on the recovered instance", describe: () => show(last) },
  );
});

test("slow start: a new instance's share ramps up over the window", async () => {
  await setup();
  const fresh = await spawnInstance({ endpoint: fx.etcd.endpoint, prefix, service: "echo", ttlSeconds: 5, delayMs: 1 });
  children.push(fresh);
  await waitFor(() => discovery.watch("echo").instances().length === 4, { message: "4 instances listed" });
  const early = await run("weighted-random", 600);
  // The window is 6 s from the record's startedAt; wait it out, then the share is a full quarter.
  const startedAt = Date.parse(
    discovery
      .watch("echo")
      .instances()
      .find((r) => r.id === fresh.id)?.startedAt ?? "",
  );
  await waitFor(() => Date.now() > startedAt + 6_000, { timeoutMs: 10_000, message: "slow start window over" });
  const later = await run("weighted-random", 1_000);
  const e = early.get(fresh.id) ?? 0;
  const l = later.get(fresh.id) ?? 0;
  assert.ok(e < 0.15, `early share of the new instance ${show(early)}`);
  assert.ok(l > 0.18 && l > e * 1.5, `after the window ${show(later)} (early ${e.toFixed(2)})`);
});
