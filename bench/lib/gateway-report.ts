// The gateway benchmark's report: the designs table, each dzug service's CPU per RPC against the bare
// grpc-js server, and issue 11's targets, all from per-round results (ratios are medians of per-round
// ratios, which cancels most of a shared machine's drift between rounds).
import { fmt, median } from "./stats.ts";

/** CPU µs per request of each process group: gateway, user, relation, etcd. */
export type GroupCpu = Record<"gateway" | "user" | "relation" | "etcd", number>;

export interface RoundResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  cpuUs: GroupCpu;
}

export interface DesignInfo {
  name: string;
  what: string;
  /** Backend instances per service, to report the per-RPC CPU of one service as a whole. */
  backends: string;
}

export type Results = ReadonlyMap<string, readonly RoundResult[]>;

const services = (c: GroupCpu) => c.user + c.relation;
const all = (c: GroupCpu) => c.gateway + c.user + c.relation + c.etcd;

/** Median over rounds of f(a) ÷ f(b) in the same round. */
export function perRoundRatio(results: Results, a: string, b: string, f: (r: RoundResult) => number): number {
  const ra = results.get(a) ?? [];
  const rb = results.get(b) ?? [];
  const xs: number[] = [];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const x = f(ra[i] as RoundResult) / f(rb[i] as RoundResult);
    if (Number.isFinite(x)) xs.push(x);
  }
  return median(xs);
}

const us = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(0));

export function designTable(designs: readonly DesignInfo[], results: Results, base: string): string[][] {
  const rows = [
    [
      "design",
      "req/s (median)",
      "min–max",
      "p50 ms",
      "p99 ms",
      "gateway CPU µs/req",
      "services CPU µs/req",
      "all processes CPU µs/req",
      `req/s ÷ ${base}`,
      "errors",
    ],
  ];
  for (const d of designs) {
    const rs = results.get(d.name) ?? [];
    const med = (f: (r: RoundResult) => number) => median(rs.map(f));
    const rps = rs.map((r) => r.rps);
    rows.push([
      d.name,
      fmt.rps(med((r) => r.rps)),
      `${fmt.rps(Math.min(...rps))}–${fmt.rps(Math.max(...rps))}`,
      fmt.ms(med((r) => r.p50)),
      fmt.ms(med((r) => r.p99)),
      us(med((r) => r.cpuUs.gateway)),
      us(med((r) => services(r.cpuUs))),
      us(med((r) => all(r.cpuUs))),
      fmt.ratio(perRoundRatio(results, d.name, base, (r) => r.rps)),
      String(rs.reduce((a, r) => a + r.errors, 0)),
    ]);
  }
  return rows;
}

/** CPU µs per served RPC of each service (each request makes one RPC of each) vs the bare server. */
export function perRpcTable(designs: readonly DesignInfo[], results: Results, bare: string): string[][] {
  const rows = [["service", "design", "instances", "CPU µs per RPC (median)", `÷ ${bare} (per-round median)`]];
  for (const svc of ["user", "relation"] as const) {
    for (const d of designs) {
      const rs = results.get(d.name) ?? [];
      if (!((rs[0]?.cpuUs[svc] ?? 0) > 0)) continue;
      rows.push([
        svc,
        d.name,
        d.backends,
        us(median(rs.map((r) => r.cpuUs[svc]))),
        d.name === bare ? "1.00×" : fmt.ratio(perRoundRatio(results, d.name, bare, (r) => r.cpuUs[svc])),
      ]);
    }
  }
  return rows;
}

export interface Target {
  what: string;
  measured: number;
  /** "≤" or "≥" the bound. */
  op: "≤" | "≥";
  bound: number;
}

/** Issue 11's targets for dzug 1 + 1 against the anchors of the same run. */
export function targets(results: Results, names: { dzug: string; express: string; perCall: string }): Target[] {
  const { dzug, express, perCall } = names;
  const t: Target[] = [
    {
      what: `gateway CPU/req, ${dzug} ÷ ${express}`,
      measured: perRoundRatio(results, dzug, express, (r) => r.cpuUs.gateway),
      op: "≤",
      bound: 1.15,
    },
    {
      what: `user service CPU per RPC, ${dzug} ÷ bare grpc-js (${express}'s backend)`,
      measured: perRoundRatio(results, dzug, express, (r) => r.cpuUs.user),
      op: "≤",
      bound: 2,
    },
    {
      what: `relation service CPU per RPC, ${dzug} ÷ bare grpc-js (${express}'s backend)`,
      measured: perRoundRatio(results, dzug, express, (r) => r.cpuUs.relation),
      op: "≤",
      bound: 2,
    },
    {
      what: `req/s, ${dzug} ÷ ${express}`,
      measured: perRoundRatio(results, dzug, express, (r) => r.rps),
      op: "≥",
      bound: 0.85,
    },
  ];
  if (results.has(perCall))
    t.push({
      what: `req/s, ${dzug} ÷ ${perCall}`,
      measured: perRoundRatio(results, dzug, perCall, (r) => r.rps),
      op: "≥",
      bound: 3,
    });
  return t;
}

export function targetRows(ts: readonly Target[]): string[][] {
  return [
    ["target", "measured", "bound", "met"],
    ...ts.map((t) => [
      t.what,
      fmt.ratio(t.measured),
      `${t.op} ${t.bound}×`,
      Number.isNaN(t.measured) ? "-" : (t.op === "≤" ? t.measured <= t.bound : t.measured >= t.bound) ? "yes" : "no",
    ]),
  ];
}

/** Before/after: `after` ÷ `before` per process group and for req/s (medians of per-round ratios). */
export function compareRows(results: Results, after: string, before: string): string[][] {
  const r = (f: (x: RoundResult) => number) => fmt.ratio(perRoundRatio(results, after, before, f));
  return [
    ["after ÷ before", "gateway CPU/req", "user CPU/RPC", "relation CPU/RPC", "all CPU/req", "req/s", "p50"],
    [
      `${after} ÷ ${before}`,
      r((x) => x.cpuUs.gateway),
      r((x) => x.cpuUs.user),
      r((x) => x.cpuUs.relation),
      r((x) => all(x.cpuUs)),
      r((x) => x.rps),
      r((x) => x.p50),
    ],
  ];
}
