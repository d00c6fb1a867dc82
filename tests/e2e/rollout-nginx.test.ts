// Zero-error gateway rollouts behind a real reverse proxy: nginx (as ingress-nginx: keep-alive upstreams,
// no retry of POSTs) in front of two gateways; a rolling restart replaces both while POST and GET load
// runs. As an ingress controller does, nginx learns of a stopping gateway late: its upstream list is
// reloaded a second after SIGTERM, inside the gateway's propagation delay (shutdown.propagationDelayMs).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { Load } from "../harness/load.ts";
import { Nginx } from "../harness/nginx.ts";
import { call, DzugSystem, type ProcessHandle } from "../harness/system.ts";

const PROPAGATION_DELAY_MS = 3000;
const CONTROLLER_LAG_MS = 1000;

let system: DzugSystem;
let nginx: Nginx | undefined;
const gateways: { handle: ProcessHandle; port: number }[] = [];

async function startGateway(): Promise<{ handle: ProcessHandle; port: number }> {
  await system.startGateway({ DZUG_SHUTDOWN_PROPAGATION_DELAY_MS: String(PROPAGATION_DELAY_MS) });
  const gw = { handle: system.gateway as ProcessHandle, port: system.gatewayPort };
  gateways.push(gw);
  return gw;
}

before(async () => {
  system = await DzugSystem.start({ users: 1, relations: 1, gateway: false });
});
after(async () => {
  await nginx?.stop();
  await Promise.all(gateways.map((g) => g.handle.stop("SIGTERM", 10_000)));
  await system?.destroy();
});

test("rolling restart of both gateways behind nginx: 0 failed POST and GET requests", async () => {
  let live = [await startGateway(), await startGateway()];
  nginx = await Nginx.start(live.map((g) => g.port));
  const proxy = nginx.url;
  const name = `rollout${Date.now()}`;
  const reg = await call(proxy, "POST", "/douyin/user/register/", { username: name, password: "rollout-pass-1" });
  assert.equal(reg.body.status_code, 0, JSON.stringify(reg.body));
  const load = new Load(4, async (w, i) => {
    const r =
      (w + i) % 2 === 0
        ? await call(proxy, "POST", "/douyin/user/login/", { username: name, password: "rollout-pass-1" })
        : await call(proxy, "GET", "/douyin/user/", { token: reg.body.token, user_id: reg.body.user_id });
    if (r.status !== 200 || r.body.status_code !== 0) throw new Error(`HTTP ${r.status} ${JSON.stringify(r.body)}`);
  });
  try {
    for (const old of [...live]) {
      // Surge: the new pod is ready and in the upstream list before the old one is told to stop.
      const fresh = await startGateway();
      live = [...live, fresh];
      nginx.reload(live.map((g) => g.port));
      const exited = old.handle.stop("SIGTERM", 30_000);
      await delay(CONTROLLER_LAG_MS); // the controller notices the endpoint change late
      live = live.filter((g) => g !== old);
      nginx.reload(live.map((g) => g.port));
      assert.equal(await exited, 0, old.handle.logs().slice(-2000));
    }
  } finally {
    const r = await load.stop();
    process.stdout.write(`# rollout behind nginx: ${r.ok} ok, ${r.failed} failed\n`);
    assert.ok(r.ok > 100, `only ${r.ok} requests`);
    assert.equal(r.failed, 0, `${r.errors.join("\n")}\n--- nginx ---\n${nginx.errorLog().slice(-2000)}`);
  }
});
