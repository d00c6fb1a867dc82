// Load generator for the douyin HTTP API behind the gateway.
//
//   node scripts/load.ts [--url http://localhost:8080] [--duration 30] [--concurrency 32]
//                        [--users 50] [--rate 0] [--seed 1] [--max-requests 1000000] [--timeout 10]
//
// 1. Setup: N users `load<seed>_<i>` register; when register answers an empty token (name taken, e.g. a
//    previous run against the same database) they log in instead, as the contract says clients do.
// 2. Users 2k and 2k+1 become friends (they follow each other) and chat. A weighted mix for --duration
//    seconds: user info reads, follow/unfollow actions (never between chat partners), follow / follower /
//    friend list reads, logins, chat messages to one's partner and polls of that conversation by the
//    newest create_time seen (the first poll reads the latest page), as random users with their own tokens. Closed loop (--concurrency
//    workers back to back) by default; with --rate R an open loop that starts R requests/s (latency is
//    measured from the scheduled start, so a slow server cannot hide queueing; when --concurrency
//    requests are already in flight a scheduled request is dropped and counted).
// 3. Report: per endpoint counts, HTTP status and status_code breakdown, req/s, p50/p90/p99 latency.
//
// Exit status: 0 when every answer was HTTP 200 with a JSON body carrying status_code; 1 when any answer
// was unexpected (5xx, 4xx — the generator only sends valid requests —, network errors, timeouts, bodies
// that are not the contract's JSON); 2 for bad flags or a failed setup. Bounded by --duration and
// --max-requests; the drain after the duration is bounded by --timeout.
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { fmt, quantileOfSorted as quantile, table } from "../bench/lib/stats.ts";
import { mulberry32 } from "./lib/prng.ts";

const USAGE = `usage: node scripts/load.ts [--url URL] [--duration S] [--concurrency N] [--users N] [--rate R] [--seed N]
                           [--max-requests N] [--timeout S] [--json]
  --url           gateway base URL (default http://localhost:8080)
  --duration      seconds of mixed load after setup (default 30)
  --concurrency   closed loop: workers; open loop: max requests in flight (default 32)
  --users         users to register or log in (default 50)
  --rate          open loop: requests started per second (default 0 = closed loop)
  --seed          PRNG seed for names, picks and the mix (default 1)
  --max-requests  stop after this many mixed requests (default 1000000)
  --timeout       per-request timeout in seconds (default 10)
  --json          also print the report as one JSON line`;

function fail(msg: string): never {
  process.stderr.write(`load: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

let parsed: ReturnType<typeof parseArgs>;
try {
  parsed = parseArgs({
    options: {
      url: { type: "string", default: "http://localhost:8080" },
      duration: { type: "string", default: "30" },
      concurrency: { type: "string", default: "32" },
      users: { type: "string", default: "50" },
      rate: { type: "string", default: "0" },
      seed: { type: "string", default: "1" },
      "max-requests": { type: "string", default: "1000000" },
      timeout: { type: "string", default: "10" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
} catch (err) {
  fail((err as Error).message);
}
const v = parsed.values as Record<string, string | boolean>;
if (v.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
function num(name: string, min: number, max: number, integer = true): number {
  const n = Number(v[name]);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n)))
    fail(`--${name} must be ${integer ? "an integer" : "a number"} in ${min}..${max}`);
  return n;
}
const opts = {
  url: String(v.url),
  duration: num("duration", 0.1, 86_400, false),
  concurrency: num("concurrency", 1, 10_000),
  users: num("users", 2, 100_000),
  rate: num("rate", 0, 1_000_000, false),
  seed: num("seed", 0, 2 ** 32 - 1),
  maxRequests: num("max-requests", 1, 1e9),
  timeoutMs: num("timeout", 0.1, 600, false) * 1000,
  json: Boolean(v.json),
};
let origin: URL;
try {
  origin = new URL(opts.url);
} catch {
  fail(`--url ${opts.url} is not a URL`);
}
if (origin.protocol !== "http:" && origin.protocol !== "https:") fail("--url must be http(s)");
const base = origin.pathname.replace(/\/$/, "");

// ---------------------------------------------------------------------------------------------
const rand = mulberry32(opts.seed);
const pickInt = (n: number) => Math.floor(rand() * n);

// ---------------------------------------------------------------------------------------------
// Stats

interface EndpointStats {
  count: number;
  http: Map<string, number>;
  codes: Map<number, number>;
  lat: number[];
}
const stats = new Map<string, EndpointStats>();
const unexpected: string[] = [];
let unexpectedCount = 0;

function record(endpoint: string, http: string, code: number | undefined, ms: number): void {
  let s = stats.get(endpoint);
  if (!s) {
    s = { count: 0, http: new Map(), codes: new Map(), lat: [] };
    stats.set(endpoint, s);
  }
  s.count++;
  s.http.set(http, (s.http.get(http) ?? 0) + 1);
  if (code !== undefined) s.codes.set(code, (s.codes.get(code) ?? 0) + 1);
  s.lat.push(ms);
}

function noteUnexpected(what: string): void {
  unexpectedCount++;
  if (unexpected.length < 10) unexpected.push(what);
}

// ---------------------------------------------------------------------------------------------
// HTTP

const pool = new Pool(origin.origin, {
  connections: opts.concurrency,
  pipelining: 1,
  keepAliveTimeout: 30_000,
  headersTimeout: opts.timeoutMs,
  bodyTimeout: opts.timeoutMs,
});

interface Answer {
  http: number;
  body: Record<string, unknown> | undefined;
}

/**
 * Each simulated user is its own client: its requests name a distinct address in X-Forwarded-For
 * (IPv6 documentation prefix), as an ingress would, so the gateway's per-address rate limits see many
 * clients — `npm run up` trusts loopback proxies. Keyed by username and by current token.
 */
const clientAddress = new Map<string, string>();
const addressOf = (i: number) => `2001:db8::${(i + 1).toString(16)}`;

async function send(method: "GET" | "POST", path: string, params: Record<string, string | number>): Promise<Answer> {
  const qs = new URLSearchParams(Object.entries(params).map(([k, x]): [string, string] => [k, String(x)])).toString();
  const signal = AbortSignal.timeout(opts.timeoutMs);
  const client = clientAddress.get(String(params.token ?? params.username ?? ""));
  const forwarded: Record<string, string> = client ? { "x-forwarded-for": client } : {};
  const res =
    method === "GET"
      ? await pool.request({ method, path: `${base}${path}?${qs}`, headers: forwarded, signal })
      : await pool.request({
          method,
          path: `${base}${path}`,
          headers: { "content-type": "application/x-www-form-urlencoded", ...forwarded },
          body: qs,
          signal,
        });
  const text = await res.body.text();
  let body: Record<string, unknown> | undefined;
  try {
    const j: unknown = JSON.parse(text);
    if (j !== null && typeof j === "object" && typeof (j as Record<string, unknown>).status_code === "number")
      body = j as Record<string, unknown>;
  } catch {}
  return { http: res.statusCode, body };
}

/** One timed request, recorded under `endpoint`; returns the body when the answer was HTTP 200 + contract JSON. */
async function timed(
  endpoint: string,
  method: "GET" | "POST",
  path: string,
  params: Record<string, string | number>,
  startedAt = performance.now(),
): Promise<Record<string, unknown> | undefined> {
  try {
    const a = await send(method, path, params);
    const ms = performance.now() - startedAt;
    const code = a.body?.status_code as number | undefined;
    record(endpoint, String(a.http), code, ms);
    if (a.http !== 200 || a.body === undefined) {
      noteUnexpected(
        `${endpoint}: HTTP ${a.http}${a.body ? ` status_code ${code} ${String(a.body.status_msg)}` : " (body is not the contract's JSON)"}`,
      );
      return undefined;
    }
    return a.body;
  } catch (err) {
    const e = err as Error & { code?: string };
    const kind =
      e.name === "TimeoutError" || e.code === "UND_ERR_HEADERS_TIMEOUT" || e.code === "UND_ERR_BODY_TIMEOUT"
        ? "timeout"
        : `error ${e.code ?? e.name}`;
    record(endpoint, kind, undefined, performance.now() - startedAt);
    noteUnexpected(`${endpoint}: ${kind}: ${e.message}`);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Setup: register, fall back to login when the token is empty.

interface LoadUser {
  name: string;
  password: string;
  id: number;
  token: string;
  following: Set<number>;
  /** The chat partner (a friend), once paired. */
  partner?: LoadUser;
  /** create_time of the newest message this user has seen in the conversation with its partner. */
  seenUpTo: number;
}
const users: LoadUser[] = [];
const t0 = performance.now();
let stopRequested = false;
process.once("SIGINT", () => {
  stopRequested = true;
  process.stderr.write("load: SIGINT, stopping early\n");
});

async function setupUser(i: number): Promise<LoadUser | undefined> {
  const name = `load${opts.seed}_${i}`;
  const password = `pw-${opts.seed}-${i}-load`;
  clientAddress.set(name, addressOf(i));
  let body = await timed("register", "POST", "/douyin/user/register/", { username: name, password });
  if (body && body.token === "")
    body = await timed("login", "POST", "/douyin/user/login/", { username: name, password });
  if (!body || typeof body.token !== "string" || body.token === "" || typeof body.user_id !== "number") {
    process.stderr.write(
      `load: setup of ${name} failed: ${body ? JSON.stringify(body) : "no usable answer (see below)"}\n`,
    );
    return undefined;
  }
  clientAddress.set(body.token, addressOf(i));
  return { name, password, id: body.user_id, token: body.token, following: new Set(), seenUpTo: 0 };
}

{
  let next = 0;
  const setupWorkers = Math.min(opts.concurrency, opts.users, 16);
  await Promise.all(
    Array.from({ length: setupWorkers }, async () => {
      while (next < opts.users && !stopRequested) {
        const u = await setupUser(next++);
        if (u) users.push(u);
      }
    }),
  );
  if (users.length < 2) {
    process.stderr.write(`load: setup failed: ${users.length} of ${opts.users} users ready against ${opts.url}\n`);
    for (const u of unexpected) process.stderr.write(`  ${u}\n`);
    await pool.close();
    process.exit(2);
  }
}
/** a follows b unless it already does (10007: a previous run against the same database). */
async function ensureFollow(a: LoadUser, b: LoadUser): Promise<boolean> {
  const body = await timed("relation/action", "POST", "/douyin/relation/action/", {
    token: a.token,
    to_user_id: b.id,
    action_type: 1,
  });
  const ok = body?.status_code === 0 || body?.status_code === 10007;
  if (ok) a.following.add(b.id);
  return ok;
}

{
  const pairs: Array<[LoadUser, LoadUser]> = [];
  for (let i = 0; i + 1 < users.length; i += 2) pairs.push([users[i]!, users[i + 1]!]);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(16, pairs.length) }, async () => {
      while (next < pairs.length && !stopRequested) {
        const [a, b] = pairs[next++]!;
        if ((await ensureFollow(a, b)) && (await ensureFollow(b, a))) {
          a.partner = b;
          b.partner = a;
        }
      }
    }),
  );
}
const setupSeconds = (performance.now() - t0) / 1000;

// ---------------------------------------------------------------------------------------------
// The mix. Weights sum to 100.

type Op = () => Promise<unknown>;
const someone = () => users[pickInt(users.length)] as LoadUser;
const mix: Array<[weight: number, name: string, op: (startedAt: number) => Promise<unknown>]> = [
  [
    34,
    "user",
    (s) => {
      const me = someone();
      // Mostly other users' pages, sometimes one's own (user_id absent).
      const params: Record<string, string | number> = { token: me.token };
      if (rand() < 0.8) params.user_id = someone().id;
      return timed("user", "GET", "/douyin/user/", params, s);
    },
  ],
  [
    16,
    "relation/action",
    async (s) => {
      const me = someone();
      let other = someone();
      // Never oneself, never one's chat partner (their friendship is what lets them chat).
      for (let i = 1; other.id === me.id || other === me.partner; i++)
        other = users[(users.indexOf(me) + i) % users.length] as LoadUser;
      // Unfollow when this generator believes we follow; concurrent workers may race, so 10007/10008
      // (already / not following) are expected business answers, counted in the status_code breakdown.
      const following = me.following.has(other.id);
      const body = await timed(
        "relation/action",
        "POST",
        "/douyin/relation/action/",
        { token: me.token, to_user_id: other.id, action_type: following ? 2 : 1 },
        s,
      );
      if (body?.status_code === 0 || body?.status_code === 10007 || body?.status_code === 10008) {
        const nowFollowing = body.status_code === 0 ? !following : body.status_code === 10007;
        if (nowFollowing) me.following.add(other.id);
        else me.following.delete(other.id);
      }
    },
  ],
  [
    10,
    "relation/follow/list",
    (s) =>
      timed(
        "relation/follow/list",
        "GET",
        "/douyin/relation/follow/list/",
        { token: someone().token, user_id: someone().id },
        s,
      ),
  ],
  [
    10,
    "relation/follower/list",
    (s) =>
      timed(
        "relation/follower/list",
        "GET",
        "/douyin/relation/follower/list/",
        { token: someone().token, user_id: someone().id },
        s,
      ),
  ],
  [
    10,
    "relation/friend/list",
    (s) =>
      timed(
        "relation/friend/list",
        "GET",
        "/douyin/relation/friend/list/",
        { token: someone().token, user_id: someone().id },
        s,
      ),
  ],
  [
    4,
    "login",
    async (s) => {
      const me = someone();
      const body = await timed("login", "POST", "/douyin/user/login/", { username: me.name, password: me.password }, s);
      if (typeof body?.token === "string" && body.token !== "") {
        clientAddress.set(body.token, clientAddress.get(me.token) ?? "");
        me.token = body.token;
      }
    },
  ],
];
const chatter = () => {
  const me = someone();
  return me.partner ? me : (users.find((u) => u.partner) ?? me);
};
mix.push(
  [
    8,
    "message/action",
    (s) => {
      const me = chatter();
      const content = `hi ${me.partner?.name ?? ""} #${pickInt(1_000_000)}\nhow are you?`;
      const params = { token: me.token, to_user_id: me.partner?.id ?? me.id, action_type: 1, content };
      return timed("message/action", "POST", "/douyin/message/action/", params, s);
    },
  ],
  [
    8,
    "message/chat",
    async (s) => {
      const me = chatter();
      const params = { token: me.token, to_user_id: me.partner?.id ?? me.id, pre_msg_time: me.seenUpTo };
      const body = await timed("message/chat", "GET", "/douyin/message/chat/", params, s);
      const list = body?.message_list;
      if (Array.isArray(list) && list.length > 0) me.seenUpTo = Math.max(me.seenUpTo, list.at(-1).create_time);
    },
  ],
);
const totalWeight = mix.reduce((a, [w]) => a + w, 0);
function nextOp(): (startedAt: number) => Promise<unknown> {
  let r = rand() * totalWeight;
  for (const [w, , op] of mix) {
    r -= w;
    if (r < 0) return op;
  }
  return (mix[0] as (typeof mix)[0])[2];
}

// Setup requests are reported separately from the measured mix.
const setupStats = new Map(stats);
stats.clear();

let started = 0;
let dropped = 0;
const runStart = performance.now();
const runEnd = runStart + opts.duration * 1000;
const more = () => !stopRequested && started < opts.maxRequests && performance.now() < runEnd;

if (opts.rate > 0) {
  // Open loop: request k is due at runStart + k/rate, whatever the server does.
  const inflight = new Set<Promise<unknown>>();
  const interval = 1000 / opts.rate;
  let k = 0;
  while (more()) {
    const due = runStart + k * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, Math.min(wait, runEnd - performance.now())));
    if (!more()) break;
    // Catch up on missed slots (timer lateness) without sleeping.
    while (more() && runStart + k * interval <= performance.now()) {
      const scheduled = runStart + k * interval;
      k++;
      if (inflight.size >= opts.concurrency) {
        dropped++;
        continue;
      }
      started++;
      const p: Promise<unknown> = nextOp()(scheduled).finally(() => inflight.delete(p));
      inflight.add(p);
    }
  }
  await Promise.all(inflight);
} else {
  const worker: Op = async () => {
    while (more()) {
      started++;
      await nextOp()(performance.now());
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
}
const elapsed = (performance.now() - runStart) / 1000;
await pool.close();

// ---------------------------------------------------------------------------------------------
// Report

const fmtMap = <K>(m: Map<K, number>) =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k}:${n}`)
    .join(" ");

const rows: string[][] = [
  ["endpoint", "count", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "HTTP", "status_code"],
];
const all: number[] = [];
const summary: Record<string, unknown> = {};
let total = 0;
for (const [name, s] of [...stats.entries()].sort((a, b) => b[1].count - a[1].count)) {
  const sorted = Float64Array.from(s.lat).sort();
  for (const x of s.lat) all.push(x);
  total += s.count;
  const row = {
    count: s.count,
    rps: s.count / elapsed,
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    http: Object.fromEntries(s.http),
    status_code: Object.fromEntries(s.codes),
  };
  summary[name] = row;
  rows.push([
    name,
    String(s.count),
    row.rps.toFixed(1),
    fmt.ms(row.p50),
    fmt.ms(row.p90),
    fmt.ms(row.p99),
    fmt.ms(row.max),
    fmtMap(s.http),
    fmtMap(s.codes),
  ]);
}
all.sort((a, b) => a - b);
const overall = {
  count: total,
  rps: total / elapsed,
  p50: quantile(all, 0.5),
  p90: quantile(all, 0.9),
  p99: quantile(all, 0.99),
  max: all[all.length - 1] ?? Number.NaN,
};
rows.push([
  "all",
  String(total),
  overall.rps.toFixed(1),
  fmt.ms(overall.p50),
  fmt.ms(overall.p90),
  fmt.ms(overall.p99),
  fmt.ms(overall.max),
  "",
  "",
]);

const setupSummary = [...setupStats.entries()]
  .map(([n, s]) => `${n} ${s.count} (HTTP ${fmtMap(s.http)}; status_code ${fmtMap(s.codes)})`)
  .join(", ");
const mode =
  opts.rate > 0
    ? `open loop ${opts.rate} req/s, max in flight ${opts.concurrency}`
    : `closed loop, ${opts.concurrency} workers`;
process.stdout.write(
  [
    `target ${opts.url}; ${mode}; seed ${opts.seed}`,
    `setup: ${users.length}/${opts.users} users in ${setupSeconds.toFixed(1)} s: ${setupSummary}`,
    `mix: ${elapsed.toFixed(1)} s, ${total} requests${opts.rate > 0 ? `, ${dropped} dropped (in-flight cap)` : ""}`,
    "",
    table(rows, rows[0]?.indexOf("HTTP")),
    "",
    unexpectedCount === 0
      ? "unexpected answers: none"
      : `unexpected answers: ${unexpectedCount}, e.g.\n  ${unexpected.join("\n  ")}`,
    "",
  ].join("\n"),
);
if (opts.json) {
  process.stdout.write(
    `${JSON.stringify({ url: opts.url, mode, seconds: elapsed, dropped, unexpected: unexpectedCount, overall, endpoints: summary })}\n`,
  );
}
// Setup failures of single users already made the run partial; they count as unexpected as well.
process.exit(unexpectedCount > 0 ? 1 : 0);
