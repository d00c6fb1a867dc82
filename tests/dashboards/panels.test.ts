// Every panel query of every generated dashboard (charts/dzug/dashboards/*.json) returns data from a real
// Prometheus scraping a real system: etcd + 2 user + 2 relation + the gateway under a mixed load (successes,
// business errors, bad requests), scraped as the chart's ServiceMonitor scrapes (its honorLabels and
// relabelings, rendered from the chart) with the target labels the Prometheus Operator gives each target.
//
// Some panels only have data after a fault, so the test causes them while the load runs:
//   1. SIGKILL one user instance and both relation instances (relation outage: retries, failed calls, 503s),
//      then start a fresh relation instance;
//   2. stop etcd until the callers report stale discovery and a registrar loses its lease, then restart it
//      (lost / reregistered registrations).
// Before the faults every panel is evaluated once (baseline, informational): the report lists which panels
// were empty then. After the faults every panel must return a non-NaN sample.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DASHBOARD_DIR } from "../../scripts/dashboards.ts";
import { apiVersionArgs, find, render } from "../chart/helpers.ts";
import { Load } from "../harness/load.ts";
import { PrometheusServer, type QueryResult, type ScrapeTarget } from "../harness/prometheus.ts";
import { call, DzugSystem, type ServiceInstance } from "../harness/system.ts";
import { waitFor } from "../harness/wait.ts";

/** Short leases: a killed instance leaves the live set (and a registrar notices a dead etcd) within ~3 s. */
const FAST = { DZUG_DISCOVERY_LEASE_TTL_SECONDS: "3", DZUG_SHUTDOWN_PROPAGATION_DELAY_MS: "300" };
/** Failed logins for one username from one address: the third in a minute is answered 429 (fault 3). */
const FAILED_LOGINS_LIMITED = { DZUG_RATE_LIMIT_LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS_BURST: "2" };

/** What Grafana puts in for its built-in variables (dashboard time range now-30m). */
const BUILTINS: Record<string, string> = {
  __rate_interval: "1m",
  __interval: "15s",
  __interval_ms: "15000",
  __range: "1800s",
  __range_s: "1800",
  __range_ms: "1800000",
};

// ---------------------------------------------------------------- dashboards -> queries

interface Variable {
  name: string;
  type: string;
  includeAll?: boolean;
  allValue?: string;
  definition?: string;
}

interface Panel {
  type: string;
  title?: string;
  repeat?: string;
  targets?: { expr?: string; refId?: string; hide?: boolean }[];
  panels?: Panel[];
}

/** One query as Grafana would send it: every variable substituted. */
interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  /** "all" or `$var=value` for one repetition of a repeated panel. */
  variant: string;
  expr: string;
}

/** A literal value as a regex inside a PromQL string (the regex backslash itself escaped), as Grafana sends it. */
const escapeRegex = (s: string) => s.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&").replace(/\\/g, "\\\\");

function interpolate(expr: string, vars: Record<string, string>, where: string): string {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (_m, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as string;
    const value = vars[name] ?? BUILTINS[name];
    assert.ok(value !== undefined, `${where}: unknown template variable $${name} in ${expr}`);
    return value;
  });
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

const dashboards = readdirSync(DASHBOARD_DIR)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((file) => ({
    file,
    json: JSON.parse(readFileSync(join(DASHBOARD_DIR, file), "utf8")) as {
      title: string;
      templating?: { list?: Variable[] };
      panels?: Panel[];
    },
  }));

/** label_values(metric, label) of every query variable, asked of Prometheus like Grafana does. */
async function variableValues(prom: PrometheusServer): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const { file, json } of dashboards) {
    // A variable's query may use the ones before it (service's on $namespace), as Grafana chains them: "All".
    const chosen: Record<string, string> = {};
    for (const v of json.templating?.list ?? []) {
      if (v.type !== "query") continue;
      const definition = interpolate(v.definition ?? "", chosen, `${file} variable ${v.name}`);
      const m = /^label_values\(\s*([^,]+?)\s*,\s*(\w+)\s*\)$/.exec(definition);
      assert.ok(m, `${file}: variable ${v.name} is not a label_values(metric, label) query: ${v.definition}`);
      const values = await prom.labelValues(m[2] as string, [m[1] as string]);
      out.set(`${file}/${v.name}`, values);
      chosen[v.name] = v.allValue ?? `(${values.map(escapeRegex).join("|")})`;
    }
  }
  return out;
}

function panelQueries(values: Map<string, string[]>): PanelQuery[] {
  const out: PanelQuery[] = [];
  for (const { file, json } of dashboards) {
    const vars = (json.templating?.list ?? []).filter((v) => v.type === "query");
    const all: Record<string, string> = {};
    for (const v of vars) {
      // "All" as Grafana sends it for a regex matcher: the variable's allValue, else every value joined.
      all[v.name] = v.allValue ?? `(${(values.get(`${file}/${v.name}`) ?? []).map(escapeRegex).join("|")})`;
    }
    for (const p of allPanels(json.panels ?? [])) {
      for (const t of p.targets ?? []) {
        if (!t.expr || t.hide) continue;
        const base = { dashboard: json.title, refId: t.refId ?? "A" };
        const where = `${file} "${p.title}" ${base.refId}`;
        out.push({
          ...base,
          panel: interpolate(p.title ?? "", { ...all }, where),
          variant: "all",
          expr: interpolate(t.expr, all, where),
        });
        // A repeated panel is drawn once per value of its variable: each copy must have data too.
        if (p.repeat) {
          const repeated = values.get(`${file}/${p.repeat}`) ?? [];
          for (const value of repeated) {
            const one = { ...all, [p.repeat]: escapeRegex(value) };
            out.push({
              ...base,
              panel: interpolate(p.title ?? "", { ...all, [p.repeat]: value }, where),
              variant: `$${p.repeat}=${value}`,
              expr: interpolate(t.expr, one, where),
            });
          }
        }
      }
    }
  }
  return out;
}

const hasData = (r: QueryResult) => r.samples.some((s) => !Number.isNaN(Number(s.value[1])));
/** Shows something other than zero: what a panel that "needs a fault" lacks before it. */
const hasNonZero = (r: QueryResult) => r.samples.some((s) => Number(s.value[1]) > 0);

function summary(r: QueryResult): string {
  const shown = r.samples
    .slice(0, 4)
    .map((s) => {
      const labels = Object.entries(s.metric)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
      return `{${labels}} ${Number(s.value[1]).toPrecision(3)}`;
    })
    .join("; ");
  return `${r.samples.length} series${r.samples.length > 4 ? ` (first 4) ${shown}` : shown ? ` ${shown}` : ""}`;
}

// ---------------------------------------------------------------- system, load, faults

let sys: DzugSystem | undefined;
let prom: PrometheusServer | undefined;
let load: Load | undefined;
const timings: [string, number][] = [];
let phaseStart = performance.now();
function phase(name: string): void {
  const now = performance.now();
  timings.push([name, Math.round(now - phaseStart)]);
  phaseStart = now;
}

let queries: PanelQuery[] = [];
let variables = new Map<string, string[]>();
const baseline = new Map<PanelQuery, QueryResult>();
const final = new Map<PanelQuery, QueryResult>();

/** The target labels the Prometheus Operator gives a ServiceMonitor's target (job: the Service's name). */
function operatorTarget(component: string, address: string, pod: string): ScrapeTarget {
  const svc = `dzug-${component}`;
  return { job: svc, address, labels: { service: svc, namespace: "dzug", pod, endpoint: "metrics" } };
}

function scrapeTargets(s: DzugSystem): ScrapeTarget[] {
  return [
    operatorTarget("gateway", `127.0.0.1:${s.gatewayAdminPort}`, "dzug-gateway-0"),
    ...s.live().map((i) => operatorTarget(i.service, `127.0.0.1:${i.adminPort}`, i.name)),
  ];
}

/** honorLabels and relabelings of the chart's ServiceMonitor, as Prometheus scrape settings. */
async function chartScrapeSettings(): Promise<{ honorLabels: boolean; relabelConfigs: Record<string, unknown>[] }> {
  const objs = await render(["--set", "metrics.serviceMonitor.enabled=true", ...apiVersionArgs()]);
  const ep = find(objs, "ServiceMonitor", "dzug-gateway").spec.endpoints[0];
  const snake = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]));
  return { honorLabels: ep.honorLabels === true, relabelConfigs: (ep.relabelings ?? []).map(snake) };
}

/** Resolves once every current target has been scraped successfully at least `n` times in the last minute. */
async function scrapedAtLeast(p: PrometheusServer, s: DzugSystem, n: number): Promise<void> {
  const addrs = scrapeTargets(s).map((t) => t.address);
  await waitFor(
    async () => {
      const r = await p.query(`sum_over_time(up{instance=~"${addrs.map(escapeRegex).join("|")}"}[1m])`);
      return r.samples.length === addrs.length && r.samples.every((x) => Number(x.value[1]) >= n);
    },
    { timeoutMs: 30_000, intervalMs: 250, message: `${n} successful scrapes of every target` },
  );
}

async function gatewayMetrics(s: DzugSystem): Promise<string> {
  return (await fetch(`${s.adminUrl}/metrics`)).text();
}

async function raw(s: DzugSystem, method: "GET" | "POST" | "DELETE", path: string): Promise<number> {
  const res = await fetch(`${s.url}${path}`, { method });
  await res.arrayBuffer();
  return res.status;
}

async function evaluate(p: PrometheusServer, into: Map<PanelQuery, QueryResult>): Promise<void> {
  for (const q of queries) into.set(q, await p.query(q.expr));
}

before(async () => {
  phaseStart = performance.now();
  // Callers balance with p2c-ewma, so the score panel has series (random scores nothing).
  sys = await DzugSystem.start({
    users: 2,
    relations: 2,
    env: { ...FAST, ...FAILED_LOGINS_LIMITED, DZUG_BALANCER_STRATEGY: "p2c-ewma" },
  });
  const s = sys;
  phase("system start (etcd, 2 user, 2 relation, gateway)");
  prom = await PrometheusServer.start(scrapeTargets(s), await chartScrapeSettings());
  const p = prom;
  phase("prometheus start");

  // Users for the load: one pair per worker, registered up front.
  const concurrency = 3;
  const stamp = Date.now().toString(36);
  const reg = async (name: string) => {
    const { body } = await call(s.url, "POST", "/douyin/user/register/", { username: name, password: "secret123" });
    assert.equal(body.status_code, 0, JSON.stringify(body));
    return { id: body.user_id as number, token: body.token as string, name };
  };
  const pairs = await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => ({
      a: await reg(`pn${w}a-${stamp}`),
      b: await reg(`pn${w}b-${stamp}`),
    })),
  );
  const following = pairs.map(() => false);
  // Any HTTP answer counts as done (faults make some of them 503 on purpose); only a dead gateway throws.
  load = new Load(concurrency, async (w, i) => {
    const { a, b } = pairs[w] as (typeof pairs)[number];
    switch (i % 10) {
      case 0: {
        const r = await call(s.url, "POST", "/douyin/relation/action/", {
          token: a.token,
          to_user_id: b.id,
          action_type: following[w] ? 2 : 1,
        });
        if (r.body.status_code === 0) following[w] = !following[w];
        return;
      }
      case 1:
        await call(s.url, "GET", "/douyin/user/", { token: a.token, user_id: b.id });
        return;
      case 2:
        await call(s.url, "GET", "/douyin/relation/follow/list/", { token: a.token, user_id: a.id });
        return;
      case 3:
        await call(s.url, "GET", "/douyin/relation/follower/list/", { token: a.token, user_id: b.id });
        return;
      case 4:
        await call(s.url, "GET", "/douyin/relation/friend/list/", { token: b.token, user_id: b.id });
        return;
      case 5: // business error: USERNAME_TAKEN
        await call(s.url, "POST", "/douyin/user/register/", { username: a.name, password: "secret123" });
        return;
      case 6: // business error: FOLLOW_SELF
        await call(s.url, "POST", "/douyin/relation/action/", { token: a.token, to_user_id: a.id, action_type: 1 });
        return;
      case 7: // business error: USER_NOT_FOUND
        await call(s.url, "GET", "/douyin/user/", { token: a.token, user_id: 987_654_321 });
        return;
      case 8: // bad request (400): a user_id that is not a number
        await raw(s, "GET", `/douyin/user/?token=${encodeURIComponent(a.token)}&user_id=abc`);
        return;
      default: // bad request: no such route (404), wrong method (405)
        await raw(s, i % 20 === 9 ? "GET" : "DELETE", i % 20 === 9 ? "/douyin/nope/" : "/douyin/user/");
    }
  });
  const l = load;
  await waitFor(() => l.ok >= 60, { timeoutMs: 30_000, intervalMs: 50, message: "60 load requests" });
  await scrapedAtLeast(p, s, 3);
  phase("load warm-up until every target is scraped 3 times");

  variables = await variableValues(p);
  queries = panelQueries(variables);
  await evaluate(p, baseline);
  phase(`baseline evaluation of ${queries.length} queries`);

  // Fault 1: one user instance and the whole relation service die (SIGKILL) under load.
  const victims = [s.live("user")[0], ...s.live("relation")] as ServiceInstance[];
  for (const v of victims) v.child.kill("SIGKILL");
  await Promise.all(victims.map((v) => v.exited));
  await waitFor(
    async () => {
      const text = await gatewayMetrics(s);
      return (
        /^dzug_http_requests_total\{[^}]*status="503"[^}]*\} [1-9]/m.test(text) &&
        /^dzug_balancer_retries_total\{[^}]*service="relation"[^}]*\} [1-9]/m.test(text) &&
        /^dzug_balancer_failures_total\{[^}]*code="UNAVAILABLE"[^}]*\} [1-9]/m.test(text)
      );
    },
    { timeoutMs: 20_000, intervalMs: 100, message: "503s, relation retries and UNAVAILABLE failures at the gateway" },
  );
  // Let Prometheus see the counters grow during the outage (two scrapes of the gateway after they appear).
  await waitFor(
    async () =>
      hasData(await p.query(`sum(rate(dzug_http_requests_total{status=~"5.."}[1m])) > 0`)) &&
      hasData(await p.query(`sum(rate(dzug_balancer_retries_total[1m])) > 0`)),
    { timeoutMs: 20_000, intervalMs: 250, message: "Prometheus sees 5xx and retries growing" },
  );
  await s.addInstance("relation");
  p.setTargets(scrapeTargets(s));
  phase("fault 1: SIGKILL 1 user + 2 relation, outage seen, new relation instance");

  // Fault 3: someone guesses a password: failed logins for one username until the gateway answers 429.
  const victim = pairs[0]?.a.name as string;
  await waitFor(
    async () =>
      (await call(s.url, "POST", "/douyin/user/login/", { username: victim, password: "not-the-password" })).status ===
      429,
    { timeoutMs: 20_000, intervalMs: 50, message: "a failed login answered 429" },
  );
  phase("fault 3: failed logins until 429");

  // Fault 2: etcd down until callers are stale and a registrar has lost its lease; then back.
  await s.etcd.stop();
  await waitFor(async () => hasData(await p.query("max(dzug_discovery_stale) == 1")), {
    timeoutMs: 20_000,
    intervalMs: 250,
    message: "Prometheus sees dzug_discovery_stale = 1",
  });
  await waitFor(
    async () => {
      for (const i of s.live()) {
        const text = await (await fetch(`http://127.0.0.1:${i.adminPort}/metrics`)).text();
        if (/^dzug_discovery_registrations_total\{[^}]*outcome="lost"[^}]*\} [1-9]/m.test(text)) return true;
      }
      return false;
    },
    { timeoutMs: 20_000, intervalMs: 100, message: "a registrar counts its registration as lost" },
  );
  await s.etcd.restart();
  // Every outcome is exported at 0 from the start: wait for a real one.
  await waitFor(async () => hasData(await p.query(`dzug_discovery_registrations_total{outcome="reregistered"} > 0`)), {
    timeoutMs: 30_000,
    intervalMs: 250,
    message: "Prometheus sees a reregistration",
  });
  await waitFor(async () => hasData(await p.query("max(dzug_discovery_stale) == 0")), {
    timeoutMs: 30_000,
    intervalMs: 250,
    message: "the callers' discovery is fresh again (dzug_discovery_stale back to 0)",
  });
  phase("fault 2: etcd down (stale + lost), restarted, reregistered");

  // Every current target (the new relation instance too) scraped twice more, then all panels have data.
  await scrapedAtLeast(p, s, 2);
  try {
    await waitFor(
      async () => {
        for (const q of queries) if (!hasData(await p.query(q.expr))) return false;
        return true;
      },
      { timeoutMs: 20_000, intervalMs: 500, message: "every panel query returns data" },
    );
  } catch {
    // The per-panel tests below say which ones are empty.
  }
  await evaluate(p, final);
  phase("final evaluation");
});

after(async () => {
  const t0 = performance.now();
  const result = await load?.stop();
  await prom?.destroy();
  await sys?.destroy();
  timings.push(["teardown", Math.round(performance.now() - t0)]);
  const total = timings.reduce((n, [, ms]) => n + ms, 0);
  process.stdout.write(
    `# panels: ${queries.length} queries; load ${result?.ok ?? 0} answers, ${result?.failed ?? 0} thrown\n` +
      `${timings.map(([n, ms]) => `#   ${(ms / 1000).toFixed(1).padStart(5)} s  ${n}`).join("\n")}\n` +
      `#   ${(total / 1000).toFixed(1).padStart(5)} s  total\n`,
  );
});

test("the dashboard variables list values from Prometheus", () => {
  assert.ok(variables.size > 0, "no query variables found (did setup fail?)");
  for (const [name, values] of variables) assert.ok(values.length > 0, `${name}: no values`);
});

for (const { json } of dashboards) {
  test(`dashboard "${json.title}": every panel query returns data`, async (t) => {
    const mine = queries.filter((q) => q.dashboard === json.title);
    assert.ok(mine.length > 0, "no panel queries (did setup fail?)");
    for (const q of mine) {
      const r = final.get(q);
      const before = baseline.get(q);
      // "Needed a fault": nothing but empty, NaN or zero before the faults.
      const needsFault = before !== undefined && !hasNonZero(before);
      await t.test(
        `${q.panel} [${q.refId}${q.variant === "all" ? "" : ` ${q.variant}`}]${needsFault ? " (needed a fault)" : ""}`,
        (st) => {
          st.diagnostic(q.expr);
          st.diagnostic(`before faults: ${before ? summary(before) : "-"}`);
          st.diagnostic(`after faults: ${r ? summary(r) : "-"}`);
          assert.ok(r && hasData(r), `no data for ${q.expr}`);
        },
      );
    }
  });
}

test("the faults are visible in Prometheus", async () => {
  const p = prom;
  assert.ok(p, "Prometheus did not start");
  assert.ok(hasData(await p.query("max_over_time(dzug_discovery_stale[5m]) == 1")), "stale never 1");
  for (const outcome of ["registered", "lost", "reregistered"]) {
    assert.ok(
      hasData(await p.query(`dzug_discovery_registrations_total{outcome="${outcome}"} > 0`)),
      `no ${outcome} registrations`,
    );
  }
  assert.ok(hasData(await p.query(`sum(increase(dzug_http_requests_total{status="503"}[5m])) > 0`)), "no 503 growth");
});

test("the Registrations panel counts the registrar events the etcd outage caused", () => {
  const q = queries.find((x) => x.variant === "all" && x.expr.includes("dzug_discovery_registrations_total"));
  assert.ok(q, "no registrations panel");
  const r = final.get(q);
  assert.ok(r, "not evaluated (did setup fail?)");
  const total = (outcome: string) =>
    r.samples.filter((x) => x.metric.outcome === outcome).reduce((n, x) => n + Number(x.value[1]), 0);
  // 2 user + 2 relation + 1 replacement relation instance registered; the etcd outage made the live ones
  // lose their lease and register again.
  assert.ok(total("registered") >= 5, `registered: ${summary(r)}`);
  assert.ok(total("lost") >= 1, `lost: ${summary(r)}`);
  assert.ok(total("reregistered") >= 1, `reregistered: ${summary(r)}`);
});

test("scraped as the chart's monitors do: no label renamed to exported_*, the target's instance kept", async () => {
  const p = prom;
  assert.ok(p, "Prometheus did not start");
  const renamed = await p.query(`count({exported_instance!=""} or {exported_service!=""} or {exported_job!=""})`);
  assert.equal(renamed.samples.length, 0, summary(renamed));
  const picked = await p.query(`count by (service, upstream, instance) (dzug_balancer_picks_total)`);
  assert.ok(picked.samples.length > 0);
  for (const x of picked.samples) {
    // instance: the scraped target (the caller), upstream: the picked backend, service: the called service.
    assert.match(x.metric.instance ?? "", /^127\.0\.0\.1:\d+$/, "the target address as instance");
    assert.ok(x.metric.upstream && !/^127\.0\.0\.1:/.test(x.metric.upstream), `upstream ${x.metric.upstream}`);
    assert.match(x.metric.service ?? "", /^(user|relation|message)$/, "dzug's service label, not the Service name");
  }
});
