// A CPU profile of a dzug gateway under the benchmark's wrk load: started with --cpu-prof, loaded,
// stopped with SIGTERM (V8 writes the profile on exit), summarised over the load window only.
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../tests/harness/ports.ts";
import type { DzugSystem } from "../../tests/harness/system.ts";
import { type CpuProfile, formatSummary, type Summary, summarise } from "./cpuprofile.ts";
import type { BenchProcesses } from "./procs.ts";
import { fmt } from "./stats.ts";
import { runWrk } from "./wrk.ts";

const root = join(import.meta.dirname, "../..");

export async function profileGateway(
  _system: DzugSystem,
  procs: BenchProcesses,
  o: {
    dir: string;
    path: string;
    seconds: number;
    threads: number;
    connections: number;
    /** The profiled design's name (its gateway's environment: env). */
    design: string;
    /** The profiled gateway's environment (its HTTP and admin ports are replaced). */
    env: Record<string, string>;
    log: (s: string) => void;
  },
): Promise<Summary> {
  const profDir = join(o.dir, "profile-gateway");
  mkdirSync(profDir, { recursive: true });
  const port = await freePort();
  const admin = await freePort();
  const spawnedAt = performance.now();
  const handle = await procs.start(
    "gateway-prof",
    "gateway/main.ts",
    {
      ...o.env,
      DZUG_HTTP_PORT: String(port),
      DZUG_ADMIN_PORT: String(admin),
      NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir}`,
    },
    `http://127.0.0.1:${admin}/readyz`,
  );
  const loadFrom = performance.now() - spawnedAt;
  const wr = await runWrk({
    url: `http://127.0.0.1:${port}${o.path}`,
    threads: o.threads,
    connections: o.connections,
    seconds: o.seconds,
    dir: o.dir,
  });
  await handle.stop("SIGTERM", 15_000);
  const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no .cpuprofile in ${profDir}`);
  const profile = JSON.parse(readFileSync(join(profDir, file), "utf8")) as CpuProfile;
  // Only the load window counts (start-up and shutdown cut off, with margins).
  const s = summarise(profile, root, { fromMs: loadFrom + 500, toMs: loadFrom + o.seconds * 1000 - 250 });
  o.log("");
  o.log(
    `CPU profile: ${o.design} gateway under wrk (${fmt.rps(wr.rps)} req/s while profiling; ${join(profDir, file)})`,
  );
  o.log(formatSummary(s, 15));
  return s;
}
