// No record can take a process down: malformed and hostile records put under the user service's prefix
// in the real etcd while the system serves a steady load. Every caller (the gateway, relation and
// message instances, a relation instance started afterwards) ignores and counts them; not one request
// fails. And a process that hits an unexpected error logs it, deregisters and exits 1.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Etcd3 } from "etcd3";
import { instanceKey } from "../../platform/discovery/index.ts";
import { Load } from "../harness/load.ts";
import { freePort } from "../harness/ports.ts";
import { call, DzugSystem, type ServiceInstance } from "../harness/system.ts";
import { waitFor } from "../harness/wait.ts";

const PREFIX = "/dzug/services";
let sys: DzugSystem;
let etcd: Etcd3;

before(async () => {
  // What is under test is the records, not overload: on a busy shared machine the event-loop shedding
  // (503 50302) and the 3 s deadline would fail requests that have nothing to do with them.
  sys = await DzugSystem.start({
    env: { DZUG_OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: "0", DZUG_BALANCER_DEADLINE_MS: "20000" },
  });
  etcd = new Etcd3({ hosts: sys.etcd.endpoint });
});
after(async () => {
  etcd?.close();
  await sys?.destroy();
});

interface Account {
  id: number;
  token: string;
}

async function account(name: string): Promise<Account> {
  const { body } = await call(sys.url, "POST", "/douyin/user/register/", { username: name, password: "secret123" });
  assert.equal(body.status_code, 0, JSON.stringify(body));
  return { id: body.user_id, token: body.token };
}

/** One request that must succeed: status 200 and status_code 0, else it throws (a failed request). */
async function ok(method: "GET" | "POST", path: string, params: Record<string, string | number>): Promise<void> {
  const r = await call(sys.url, method, path, params);
  if (r.status !== 200 || r.body.status_code !== 0) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`);
}

/** The sum of a counter's series with `service="user"` on a process's admin /metrics. */
async function userCounter(adminUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n"))
    if (line.startsWith(`${name}{`) && line.includes('service="user"')) sum += Number(line.split(" ").pop());
  return sum;
}

/** The records: each is refused by every watcher (the first eight), or valid but dead (the last). */
async function hostileRecords(): Promise<{ malformed: number; put: () => Promise<void> }> {
  const base = { version: "x", weight: 100, zone: "", startedAt: new Date().toISOString(), service: "user" };
  const rec = (id: string, address: string) => JSON.stringify({ ...base, id, address });
  const deadPort = await freePort();
  const values: Array<[string, string]> = [
    ["user-v6-bare", rec("user-v6-bare", "::1:50051")],
    ["user-port", rec("user-port", "127.0.0.1:99999")],
    ["user-space", rec("user-space", "bad host:50051")],
    ["user-metadata", rec("user-metadata", "169.254.169.254:80")],
    ["user-not-json", "{not json"],
    ["user-wrong-svc", JSON.stringify({ ...base, id: "user-wrong-svc", service: "relation", address: "127.0.0.1:1" })],
    ["user-huge", JSON.stringify({ ...base, id: "user-huge", address: "127.0.0.1:1", zone: "z".repeat(1_000_000) })],
    ["user-id-mismatch", rec("someone-else", "127.0.0.1:1")],
    // Well formed, but nothing listens there: calls skip it (never-sent retries) while others work.
    ["user-dead", rec("user-dead", `127.0.0.1:${deadPort}`)],
  ];
  return {
    malformed: values.length - 1,
    put: async () => {
      for (const [id, value] of values) await etcd.put(instanceKey(PREFIX, "user", id)).value(value);
    },
  };
}

test("hostile records under load: 0 failed requests, every process stays up, the records are counted", async () => {
  const [a, b] = [await account(`hos-a-${process.pid}`), await account(`hos-b-${process.pid}`)];
  await ok("POST", "/douyin/relation/action/", { token: a.token, to_user_id: b.id, action_type: 1 });
  await ok("POST", "/douyin/relation/action/", { token: b.token, to_user_id: a.id, action_type: 1 });
  await ok("POST", "/douyin/message/action/", { token: a.token, to_user_id: b.id, action_type: 1, content: "hi" });
  // Reads through every caller of the user service: the gateway, relation (hydrating lists), message.
  const ops = [
    () => ok("GET", "/douyin/user/", { token: a.token, user_id: b.id }),
    () => ok("GET", "/douyin/relation/follow/list/", { token: a.token, user_id: a.id }),
    () => ok("GET", "/douyin/relation/friend/list/", { token: b.token, user_id: b.id }),
    () => ok("GET", "/douyin/message/chat/", { token: b.token, to_user_id: a.id }),
  ];
  const load = new Load(4, (w, i) => (ops[(w + i) % ops.length] as () => Promise<void>)());
  try {
    await waitFor(() => load.ok >= 40 || load.failed > 0, { timeoutMs: 60_000, message: "load running" });
    const hostile = await hostileRecords();
    await hostile.put();
    const callers = [
      { name: "gateway", adminUrl: sys.adminUrl },
      ...sys.live("relation").map((i) => ({ name: i.name, adminUrl: i.adminUrl })),
      ...sys.live("message").map((i) => ({ name: i.name, adminUrl: i.adminUrl })),
    ];
    for (const c of callers)
      await waitFor(
        async () => (await userCounter(c.adminUrl, "dzug_discovery_malformed_records_total")) >= hostile.malformed,
        { timeoutMs: 30_000, message: `${c.name} counted ${hostile.malformed} malformed user records` },
      );
    // A caller that starts now meets them in its first list instead of the watch.
    const late = await sys.addInstance("relation");
    await waitFor(
      async () => (await userCounter(late.adminUrl, "dzug_discovery_malformed_records_total")) >= hostile.malformed,
      { timeoutMs: 30_000, message: `${late.name} counted them in its first list` },
    );
    const before = load.ok;
    await waitFor(() => load.ok >= before + 40 || load.failed > 0, { timeoutMs: 60_000, message: "more load" });
  } finally {
    const result = await load.stop();
    assert.equal(result.failed, 0, `failed requests:\n${result.errors.join("\n")}`);
  }
  const down = [...sys.instances, sys.gateway].filter((p) => p !== undefined && !p.running);
  assert.deepEqual(
    down.map((p) => `${p?.name}:\n${p?.logs().slice(-2_000)}`),
    [],
    "every process stays up",
  );
  assert.match(sys.gateway?.logs() ?? "", /ignoring malformed instance record/);
});

test("an unexpected error: the process logs it, deregisters at once and exits 1", async () => {
  const fixture = join(import.meta.dirname, "fixtures/unexpected-error.mjs");
  const inst: ServiceInstance = await sys.addInstance("user", { NODE_OPTIONS: `--import ${fixture}` });
  const listed = async () => {
    const res = await fetch(`${sys.adminUrl}/_dzug/status?format=json`);
    const view = (await res.json()) as { services: Array<{ service: string; instances: Array<{ address: string }> }> };
    return view.services.some((s) => s.instances.some((i) => i.address === inst.address));
  };
  await waitFor(listed, { timeoutMs: 15_000, message: "the gateway sees the new user instance" });
  inst.child.kill("SIGUSR2");
  const code = await inst.exited;
  assert.equal(code, 1, inst.logs().slice(-2_000));
  const logs = inst.logs();
  assert.match(logs, /"level":"fatal".*uncaughtException: stopping \(exit 1\)/);
  assert.match(logs, /test: an unexpected error/);
  assert.match(logs, /deregistered \(lease revoked\)/);
  // Revoked, not left to expire by its TTL (10 s): the gateway drops it at once.
  await waitFor(async () => !(await listed()), { timeoutMs: 5_000, message: "the gateway dropped it" });
});
