// A Node process run under valgrind's callgrind, for instruction counts that do not depend on the
// machine's load (bench/instructions.ts). It starts with instrumentation off (valgrind still runs it,
// ~5× slower instead of ~50×), so start-up and warm-up cost little; `measure()` turns counting on,
// runs the given work and dumps: the dump's total is the instructions (all threads: main, GC helpers,
// compiler) the process executed during that work.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { ProcessHandle } from "../../tests/harness/system.ts";
import { type DumpSplit, splitDump } from "./callgrind-dump.ts";

const run = promisify(execFile);

export class CallgrindProcess extends ProcessHandle {
  /** False: run without valgrind (a peer of the counted processes; start/dump do nothing). */
  readonly counted: boolean;
  readonly #dir: string;

  /** `script` relative to `cwd` (default the repo), run by this Node under valgrind. */
  constructor(
    name: string,
    script: string,
    env: Record<string, string>,
    dir: string,
    o: { cwd?: string; counted?: boolean } = {},
  ) {
    const counted = o.counted ?? true;
    const valgrind = [
      "--tool=callgrind",
      "--instr-atstart=no",
      // V8 writes machine code into memory it may reuse: valgrind must notice code changes there.
      "--smc-check=all-non-file",
      `--callgrind-out-file=${join(dir, `${name}.%p.callgrind`)}`,
    ];
    super(name, script, env, dir, {
      ...(o.cwd ? { cwd: o.cwd } : {}),
      ...(counted ? { launcher: ["valgrind", valgrind] as [string, string[]] } : {}),
    });
    this.counted = counted;
    this.#dir = dir;
  }

  async #control(...args: string[]): Promise<void> {
    await run("callgrind_control", [...args, String(this.child.pid)], { timeout: 120_000 });
  }

  /** Counting on. */
  async start(): Promise<void> {
    if (this.counted) await this.#control("--instr=on");
  }

  /** Dumps what was counted since start() (or the last dump): its instructions, split (callgrind-dump.ts). */
  async dump(): Promise<DumpSplit | undefined> {
    if (!this.counted) return undefined;
    const before = this.#dumps().length;
    await this.#control("--dump");
    const files = this.#dumps();
    if (files.length <= before) throw new Error(`${this.name}: callgrind wrote no dump`);
    const text = readFileSync(join(this.#dir, files[files.length - 1] as string), "utf8");
    const m = /^summary:\s*(\d+)/m.exec(text) ?? /^totals:\s*(\d+)/m.exec(text);
    if (!m) throw new Error(`${this.name}: no summary in the callgrind dump`);
    const split = splitDump(text);
    if (split.total !== Number(m[1])) throw new Error(`${this.name}: dump total ${split.total} ≠ summary ${m[1]}`);
    return split;
  }

  #dumps(): string[] {
    const prefix = `${this.name}.${this.child.pid}.callgrind.`;
    return readdirSync(this.#dir)
      .filter((f) => f.startsWith(prefix))
      .sort((a, b) => Number(a.slice(prefix.length)) - Number(b.slice(prefix.length)));
  }
}
