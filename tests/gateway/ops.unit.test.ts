// Operations endpoints of the gateway: /healthz, /readyz, /metrics, /_dzug/status on the admin
// listener, none of them on the API port.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, instance, startTestApp, type TestApp, tokens } from "./fakes.ts";

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(() => t.close());

const OPS_PATHS = ["/metrics", "/_dzug/status", "/healthz", "/readyz"];

test("the API port answers 404 JSON for every operations path; the admin port serves them and nothing else", async () => {
  for (const path of OPS_PATHS) {
    for (const variant of [path, `${path}/`, `${path}?format=json`]) {
      const api = await call(`${t.url}${variant}`);
      assert.equal(api.status, 404, `API ${variant}`);
      assert.equal(api.body.status_code, 40401);
      assert.doesNotMatch(api.text, /dzug_|instances|alive|ready/, `API ${variant} tells nothing`);
    }
    assert.equal((await call(`${t.adminUrl}${path}`)).status, 200, `admin ${path}`);
    const post = await call(`${t.adminUrl}${path}`, { method: "POST" });
    assert.equal(post.status, 405, `admin POST ${path}`);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
  }
  for (const path of ["/douyin/user/", "/openapi.json", "/"]) {
    // fetch, not call(): call() checks answers of API paths against the API's document.
    const admin = await fetch(`${t.adminUrl}${path}`);
    assert.equal(admin.status, 404, `admin ${path}`);
    assert.equal(((await admin.json()) as { status_code: number }).status_code, 40401);
  }
  assert.equal((await call(`${t.url}/openapi.json`)).status, 200, "the API port serves its OpenAPI document");
  assert.doesNotMatch(
    (await call(`${t.adminUrl}/metrics`)).text,
    /route="\/(metrics|readyz|healthz|_dzug\/status)"/,
    "admin requests are not API traffic in the RED metrics",
  );
});

test("/healthz answers 200 JSON", async () => {
  const r = await call(`${t.adminUrl}/healthz/`);
  assert.equal(r.status, 200);
  assert.equal(r.body.status_code, 0);
});

test("/readyz degrades per route: 200 while one upstream has an instance, naming the others; 503 when none has one or while shutting down", async () => {
  const ok = await call(`${t.adminUrl}/readyz`);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.status_code, 0);
  assert.deepEqual(ok.body.degraded, []);

  const all = t.discovery.pools;
  const [user, relation, ...others] = all;
  assert.ok(user && relation);
  const saved = relation.instances;
  try {
    relation.instances = [];
    let r = await call(`${t.adminUrl}/readyz`);
    assert.equal(r.status, 200, "the user and message routes still serve");
    assert.deepEqual(r.body.degraded, ["relation"]);
    assert.match(r.body.status_msg, /degraded: relation: no live instance/);

    relation.ready = false;
    r = await call(`${t.adminUrl}/readyz`);
    assert.match(r.body.status_msg, /relation: instance list not loaded/);

    t.discovery.pools = [user];
    r = await call(`${t.adminUrl}/readyz`);
    assert.equal(r.status, 200);
    assert.match(r.body.status_msg, /relation: not watched/);

    // No upstream has an instance: nothing of the API can be served.
    t.discovery.pools = all.map((p) => ({ ...p, instances: [] }));
    r = await call(`${t.adminUrl}/readyz`);
    assert.equal(r.status, 503);
    assert.notEqual(r.body.status_code, 0);
    assert.match(r.body.status_msg, /no upstream service has an instance/);
    assert.equal(r.body.degraded.length, all.length);

    // Stale but with known instances: ready (discovery serves from the last known set), flagged.
    t.discovery.pools = [user, { ...relation, ready: true, stale: true, instances: saved }, ...others];
    r = await call(`${t.adminUrl}/readyz`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.stale, ["relation"]);
    assert.deepEqual(r.body.degraded, []);
  } finally {
    relation.instances = saved;
    relation.ready = true;
    t.discovery.pools = all;
  }

  t.shutdown.value = true;
  try {
    const r = await call(`${t.adminUrl}/readyz`);
    assert.equal(r.status, 503);
    assert.match(r.body.status_msg, /shutting down/);
    const api = await call(`${t.url}/openapi.json`);
    assert.equal(api.headers.get("connection"), "close", "API connections are not kept alive while stopping");
  } finally {
    t.shutdown.value = false;
  }
});

test("/metrics: HTTP RED by route pattern (unknown paths as unmatched), plus the discovery counters", async () => {
  const id = t.world.addUser("mia");
  const token = await tokens.issue(id);
  await call(`${t.url}/douyin/user/?token=${token}&user_id=${id}`);
  await call(`${t.url}/douyin/user?token=${token}`);
  await call(`${t.url}/douyin/user/?token=${token}&user_id=zzz`);
  await call(`${t.url}/no/such/path/12345`);
  const r = await call(`${t.adminUrl}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type") ?? "", /^text\/plain/);
  const m = r.text;
  assert.match(m, /dzug_http_requests_total\{route="\/douyin\/user\/",method="GET",status="200"\} 2/);
  assert.match(m, /dzug_http_requests_total\{route="\/douyin\/user\/",method="GET",status="400"\} 1/);
  assert.match(m, /dzug_http_requests_total\{route="unmatched",method="GET",status="404"\} 1/);
  assert.match(
    m,
    /dzug_http_request_duration_seconds_bucket\{le="[^"]+",route="\/douyin\/user\/",method="GET",status="200"\}/,
  );
  assert.match(m, /dzug_balancer_picks_total\{service="user",upstream="user-a",strategy="random"\} 1/);
  assert.doesNotMatch(m, /12345|token=|zzz/, "raw URLs never become labels");
});

test("/_dzug/status: JSON with instances, picks, share, in-flight, latency, score and discovery state", async () => {
  t.discovery.pools = [
    {
      service: "user",
      stale: false,
      ready: true,
      strategy: "p2c-ewma",
      instances: [
        instance("user", "user-a", { weight: 300, zone: "z1" }, 75, "READY", {
          inflight: 2,
          latencyMs: 4.5,
          score: 0.045,
        }),
        instance("user", "user-b", { version: "0.2.0" }, 25, "TRANSIENT_FAILURE"),
      ],
    },
    {
      service: "relation",
      stale: true,
      ready: true,
      strategy: "random",
      instances: [instance("relation", "relation-a", {}, 0, "IDLE")],
    },
  ];
  for (const init of [{}, { headers: { accept: "application/json" } }]) {
    const url =
      Object.keys(init).length === 0 ? `${t.adminUrl}/_dzug/status?format=json` : `${t.adminUrl}/_dzug/status`;
    const r = await call(url, init);
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
    const user = r.body.services.find((s: { service: string }) => s.service === "user");
    assert.equal(user.discovery, "fresh");
    assert.equal(user.strategy, "p2c-ewma");
    assert.equal(user.picks, 100);
    assert.deepEqual(
      user.instances.map((i: Record<string, unknown>) => [
        i.id,
        i.address,
        i.version,
        i.weight,
        i.zone,
        i.state,
        i.picks,
        i.share,
        i.inflight,
        i.latencyMs,
        i.score,
      ]),
      [
        ["user-a", "127.0.0.1:50051", "0.1.0", 300, "z1", "READY", 75, 75, 2, 4.5, 0.045],
        ["user-b", "127.0.0.1:50051", "0.2.0", 100, "", "TRANSIENT_FAILURE", 25, 25, 0, 0, null],
      ],
    );
    const relation = r.body.services.find((s: { service: string }) => s.service === "relation");
    assert.equal(relation.discovery, "stale");
    assert.equal(relation.instances[0].share, 0);
  }
});

test("/_dzug/status: HTML page, self-refreshing, everything escaped", async () => {
  const evil = `<script>alert("x")</script>`;
  t.discovery.pools = [
    {
      service: "user",
      stale: false,
      ready: true,
      strategy: "random",
      instances: [
        instance(
          "user",
          `user-${evil}`,
          { address: `"><img src=x onerror=alert(1)>:1`, version: "1.0'&", zone: evil },
          3,
        ),
      ],
    },
  ];
  const r = await call(`${t.adminUrl}/_dzug/status`, { headers: { accept: "text/html,application/xhtml+xml,*/*" } });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type") ?? "", /^text\/html/);
  assert.match(r.text, /<meta http-equiv="refresh" content="\d+">/);
  assert.doesNotMatch(r.text, /<script|<img/);
  assert.match(r.text, /user-&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/);
  assert.match(r.text, /&quot;&gt;&lt;img src=x onerror=alert\(1\)&gt;:1/);
  assert.match(r.text, /1\.0&#39;&amp;/);
  assert.match(r.text, /100\.0%/);
  // relation is required but unknown: listed with no instance
  assert.match(r.text, /relation/);
  assert.match(r.text, /no live instance/);
  assert.match(r.headers.get("content-security-policy") ?? "", /default-src 'none'/);
});
