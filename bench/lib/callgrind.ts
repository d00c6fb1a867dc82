// A Node process run under valgrind's callgrind, for instruction counts that do not depend on the
// machine's load (bench/instructions.ts). It starts with instrumentation off (valgrind still runs it,
// ~5× slower instead of ~50×), so start-up and warm-up cost little; `measure()` turns counting on,
// runs the given work and dumps: the dump's total is the instructions (all threads: main, GC helpers,
// compiler) the process executed during that work.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createWriteStream, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { type DumpSplit, splitDump } from "./callgrind-dump.ts";

const run = promisify(execFile);
const root = join(import.meta.dirname, "../..");

export class CallgrindProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
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
    this.name = name;
    this.#dir = dir;
    this.counted = o.counted ?? true;
    this.logFile = join(dir, `${name}.log`);
    const log = createWriteStream(this.logFile);
    const valgrind = [
      "--tool=callgrind",
      "--instr-atstart=no",
      // V8 writes machine code into memory it may reuse: valgrind must notice code changes there.
      "--smc-check=all-non-file",
      `--callgrind-out-file=${join(dir, `${name}.%p.callgrind`)}`,
    ];
    const [command, args] = this.counted
      ? ["valgrind", [...valgrind, process.execPath, script]]
      : [process.execPath, [script]];
    this.child = spawn(command, args, {
      cwd: o.cwd ?? root,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: "pipe",
    });
    this.child.stdout?.pipe(log, { end: false });
    this.child.stderr?.pipe(log, { end: false });
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  logs(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
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

  async stop(timeoutMs = 30_000): Promise<void> {
    if (this.running) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
  }
}
