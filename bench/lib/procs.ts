// The benchmark's own processes (anchors, gateway variants) and their CPU time, read from /proc.
import { readFileSync } from "node:fs";
import { ProcessHandle } from "../../tests/harness/system.ts";
import { waitFor } from "../../tests/harness/wait.ts";

/** CPU seconds (user + system, all threads) a process has used so far, from /proc (Linux); NaN if gone. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 (utime) and 15 (stime) of proc(5), counted from the state field (3) here; 100 ticks/s.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Named groups of process ids whose CPU time is read together. */
export type PidGroups = Record<string, () => (number | undefined)[]>;

/** CPU seconds used so far by each group. */
export function groupCpu(groups: PidGroups): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pids] of Object.entries(groups)) out[name] = pids().reduce<number>((a, p) => a + cpuSeconds(p), 0);
  return out;
}

export class BenchProcesses {
  readonly #dir: string;
  readonly #all: ProcessHandle[] = [];

  constructor(dir: string) {
    this.#dir = dir;
  }

  /**
   * Spawns `script` with `env` and waits until it is ready: `probe` (one of them, when several) answers
   * 200, or (no probe) the process printed `listening <port>`.
   */
  async start(
    name: string,
    script: string,
    env: Record<string, string>,
    probe?: string | readonly string[],
  ): Promise<ProcessHandle> {
    const probes = typeof probe === "string" ? [probe] : probe;
    const p = new ProcessHandle(name, script, env, this.#dir);
    this.#all.push(p);
    await waitFor(
      async () => {
        if (!p.running) throw new Error(`${name} exited:\n${p.logs()}`);
        if (probes === undefined) return /^listening \d+/m.test(p.logs());
        const answers = await Promise.all(
          probes.map((url) =>
            fetch(url).then(
              (r) => r.status,
              () => 0,
            ),
          ),
        );
        return answers.includes(200);
      },
      { timeoutMs: 30_000, message: `${name} ready` },
    );
    return p;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.#all.map((p) => p.stop("SIGTERM", 10_000)));
  }
}
