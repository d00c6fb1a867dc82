// Runs Debian's wrk (C, epoll: costs little CPU next to the servers under test) and reads its results
// through a Lua done() hook that prints one JSON line, so nothing depends on wrk's human output format.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface WrkOptions {
  url: string;
  threads: number;
  connections: number;
  seconds: number;
  /** Per-request timeout (wrk --timeout), seconds. */
  timeoutSeconds?: number;
  /** Directory for the generated Lua script. */
  dir: string;
  /**
   * Lua run before the report hook, e.g. a `request()` function cycling through prepared requests
   * (POSTs, many users); the URL then only names the host.
   */
  lua?: string;
}

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  /** Latency percentiles in ms (wrk's own histogram of every request). */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Socket errors and non-2xx/3xx answers. */
  errors: { connect: number; read: number; write: number; timeout: number; status: number };
}

const LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status))
end
`;

const scripts = new Map<string, string>();

export function runWrk(o: WrkOptions): Promise<WrkResult> {
  const source = `${o.lua ?? ""}\n${LUA}`;
  let script = scripts.get(source);
  if (!script) {
    script = join(o.dir, `wrk-${scripts.size}.lua`);
    writeFileSync(script, source);
    scripts.set(source, script);
  }
  const args = [
    `-t${o.threads}`,
    `-c${o.connections}`,
    `-d${o.seconds}s`,
    `--timeout`,
    `${o.timeoutSeconds ?? 5}s`,
    "-s",
    script,
    o.url,
  ];
  return new Promise((resolve, reject) => {
    execFile("wrk", args, { timeout: (o.seconds + 30) * 1000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk ${args.join(" ")} failed: ${err.message}\n${stderr}`));
      const line = stdout.split("\n").find((l) => l.startsWith("WRKJSON "));
      if (!line) return reject(new Error(`wrk printed no result:\n${stdout}\n${stderr}`));
      const j = JSON.parse(line.slice("WRKJSON ".length)) as Record<string, number>;
      const seconds = (j.duration_us ?? 0) / 1e6;
      const requests = j.requests ?? 0;
      resolve({
        requests,
        seconds,
        rps: requests / seconds,
        p50: (j.p50 ?? 0) / 1000,
        p90: (j.p90 ?? 0) / 1000,
        p99: (j.p99 ?? 0) / 1000,
        max: (j.max ?? 0) / 1000,
        errors: {
          connect: j.connect ?? 0,
          read: j.read ?? 0,
          write: j.write ?? 0,
          timeout: j.timeout ?? 0,
          status: j.status ?? 0,
        },
      });
    });
  });
}

export function wrkErrorCount(r: WrkResult): number {
  const e = r.errors;
  return e.connect + e.read + e.write + e.timeout + e.status;
}
