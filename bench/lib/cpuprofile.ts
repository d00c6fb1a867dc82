// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function, self and inclusive time per
// module (npm package, node: builtin group, project file), and the share of idle / GC / program.
//
//   node bench/lib/cpuprofile.ts <file.cpuprofile> [--top 25] [--root <repo checkout>]
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface Entry {
  name: string;
  ms: number;
  /** Share of the busy (non-idle) time, 0..1. */
  share: number;
}

export interface Summary {
  wallMs: number;
  busyMs: number;
  idleMs: number;
  gcMs: number;
  programMs: number;
  functions: Entry[];
  /** Time with the function on the stack (recursion counted once). */
  functionsInclusive: Entry[];
  modulesSelf: Entry[];
  modulesInclusive: Entry[];
}

/** The module a script URL belongs to: `pkg` (node_modules), `node:group`, or a project path. */
export function moduleOf(url: string, root: string): string {
  if (url === "") return "(native)";
  if (url.startsWith("node:")) {
    const parts = url.slice(5).split("/");
    return `node:${parts.length > 2 ? parts.slice(0, 2).join("/") : parts.join("/")}`;
  }
  let path = url;
  if (url.startsWith("file://")) {
    try {
      path = fileURLToPath(url);
    } catch {}
  }
  const nm = path.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const rest = path.slice(nm + "/node_modules/".length).split("/");
    return rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : (rest[0] ?? path);
  }
  return path.startsWith(root) ? relative(root, path) : path;
}

const SPECIAL = new Set(["(idle)", "(garbage collector)", "(program)", "(root)"]);

/** Only samples taken between `fromMs` and `toMs` after the profile's start count (e.g. the load window). */
export interface Window {
  fromMs?: number;
  toMs?: number;
}

export function summarise(profile: CpuProfile, root: string, window: Window = {}): Summary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) byId.set(n.id, n);
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Self time per node from samples + timeDeltas (falls back to hitCount × mean interval).
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const fromUs = (window.fromMs ?? 0) * 1000;
  const toUs = (window.toMs ?? Number.POSITIVE_INFINITY) * 1000;
  let windowUs = 0;
  if (samples.length > 0) {
    let at = 0;
    for (let i = 0; i < samples.length; i++) {
      at += deltas[i] ?? 0;
      if (at < fromUs || at > toUs) continue;
      const id = samples[i] as number;
      // The delta before the next sample is the time spent in this one.
      const d = Math.max(0, deltas[i + 1] ?? deltas[i] ?? 0);
      windowUs += d;
      selfUs.set(id, (selfUs.get(id) ?? 0) + d);
    }
  } else {
    windowUs = profile.endTime - profile.startTime;
    const hits = profile.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0) || 1;
    const per = (profile.endTime - profile.startTime) / hits;
    for (const n of profile.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * per);
  }

  const fnSelf = new Map<string, number>();
  const modSelf = new Map<string, number>();
  const modIncl = new Map<string, number>();
  const fnIncl = new Map<string, number>();
  const fnName = (cf: CallFrame): string => {
    const f = cf.functionName;
    if (SPECIAL.has(f)) return f;
    const mod = moduleOf(cf.url, root);
    return `${f || "(anonymous)"} ${mod}${cf.url ? `:${cf.lineNumber + 1}` : ""}`;
  };
  let idle = 0;
  let gc = 0;
  let program = 0;
  let total = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n || us === 0) continue;
    total += us;
    const { functionName, url } = n.callFrame;
    if (functionName === "(idle)") {
      idle += us;
      continue;
    }
    if (functionName === "(garbage collector)") gc += us;
    if (functionName === "(program)") program += us;
    const mod = SPECIAL.has(functionName) ? functionName : moduleOf(url, root);
    const fname = fnName(n.callFrame);
    fnSelf.set(fname, (fnSelf.get(fname) ?? 0) + us);
    modSelf.set(mod, (modSelf.get(mod) ?? 0) + us);
    // Inclusive: every module on the stack of this node gets the time once.
    const seen = new Set<string>();
    const seenFn = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cn = byId.get(cur);
      if (!cn) break;
      const f = cn.callFrame.functionName;
      if (f === "(root)") break;
      seenFn.add(fnName(cn.callFrame));
      const m = SPECIAL.has(f) ? f : moduleOf(cn.callFrame.url, root);
      if (m === "(native)") continue;
      seen.add(m);
    }
    for (const m of seen) modIncl.set(m, (modIncl.get(m) ?? 0) + us);
    for (const f of seenFn) fnIncl.set(f, (fnIncl.get(f) ?? 0) + us);
  }
  const busy = total - idle;
  const entries = (m: Map<string, number>): Entry[] =>
    [...m.entries()]
      .map(([name, us]) => ({ name, ms: us / 1000, share: busy > 0 ? us / busy : 0 }))
      .sort((a, b) => b.ms - a.ms);
  return {
    wallMs: windowUs / 1000,
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    gcMs: gc / 1000,
    programMs: program / 1000,
    functions: entries(fnSelf),
    functionsInclusive: entries(fnIncl),
    modulesSelf: entries(modSelf),
    modulesInclusive: entries(modIncl),
  };
}

export function formatSummary(s: Summary, top = 20): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)} %`;
  const list = (title: string, es: Entry[]) =>
    [title, ...es.slice(0, top).map((e) => `  ${pct(e.share)}  ${e.ms.toFixed(0).padStart(7)} ms  ${e.name}`)].join(
      "\n",
    );
  return [
    `wall ${s.wallMs.toFixed(0)} ms, busy ${s.busyMs.toFixed(0)} ms (${pct(s.busyMs / Math.max(1, s.wallMs)).trim()} of wall), GC ${pct(s.gcMs / Math.max(1, s.busyMs)).trim()} of busy, (program) ${pct(s.programMs / Math.max(1, s.busyMs)).trim()}`,
    list("top functions by self time (share of busy time):", s.functions),
    list("top functions by inclusive time:", s.functionsInclusive),
    list("modules by self time:", s.modulesSelf),
    list("modules by inclusive time (on the stack):", s.modulesInclusive),
  ].join("\n");
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const file = args.find((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--"));
  if (!file) {
    process.stderr.write(
      "usage: node bench/lib/cpuprofile.ts <file.cpuprofile> [--top 25] [--root DIR] [--from-ms N] [--to-ms N]\n",
    );
    process.exit(2);
  }
  const opt = (name: string, d: string) => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] ? (args[i + 1] as string) : d;
  };
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const window = { fromMs: Number(opt("--from-ms", "0")), toMs: Number(opt("--to-ms", "Infinity")) };
  process.stdout.write(
    `${formatSummary(summarise(profile, opt("--root", process.cwd()), window), Number(opt("--top", "25")))}\n`,
  );
}
