// A real Prometheus (Debian's `prometheus` on PATH) for tests: a free loopback port, a temp TSDB and a
// generated config that scrapes every second, without honor_labels unless asked (the chart's monitors scrape
// without it), with the target relabelings a caller passes (e.g. the chart ServiceMonitor's). Targets come
// from a file_sd file, so `setTargets` can add or drop targets while it runs.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.ts";
import { waitFor } from "./wait.ts";

export function prometheusBinary(): string {
  const found = spawnSync("sh", ["-c", "command -v prometheus"], { encoding: "utf8" });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === "") {
    throw new Error("prometheus is not on PATH: install it with `apt-get install -y prometheus` (Debian)");
  }
  return path;
}

/** One scrape target: `address` is host:port; `job` becomes the job label. */
export interface ScrapeTarget {
  job: string;
  address: string;
  labels?: Record<string, string>;
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface QueryResult {
  resultType: "vector" | "scalar" | "matrix" | "string";
  /** vector: samples; scalar/string: one pseudo-sample without labels; matrix: last point of each series. */
  samples: Sample[];
}

export class PrometheusServer {
  readonly dir: string;
  readonly port: number;
  readonly #targetsFile: string;
  #child: ChildProcess | undefined;
  #log = "";

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
    this.#targetsFile = join(dir, "targets.json");
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    const c = this.#child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  logs(): string {
    return this.#log;
  }

  static async start(
    targets: ScrapeTarget[],
    opts: {
      scrapeIntervalSeconds?: number;
      honorLabels?: boolean;
      /** Prometheus relabel_configs applied to the targets (snake_case keys). */
      relabelConfigs?: Record<string, unknown>[];
    } = {},
  ): Promise<PrometheusServer> {
    const dir = mkdtempSync(join(tmpdir(), "dzug-prometheus-"));
    const prom = new PrometheusServer(dir, await freePort());
    try {
      const every = `${opts.scrapeIntervalSeconds ?? 1}s`;
      prom.setTargets(targets);
      // JSON is YAML: no YAML library needed.
      const config = {
        global: { scrape_interval: every, scrape_timeout: every, evaluation_interval: every },
        scrape_configs: [
          {
            job_name: "dzug",
            honor_labels: opts.honorLabels ?? false,
            metrics_path: "/metrics",
            ...(opts.relabelConfigs ? { relabel_configs: opts.relabelConfigs } : {}),
            file_sd_configs: [{ files: [prom.#targetsFile], refresh_interval: "1s" }],
          },
        ],
      };
      const configFile = join(dir, "prometheus.yml");
      writeFileSync(configFile, JSON.stringify(config, null, 2));
      const child = spawn(
        prometheusBinary(),
        [
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${join(dir, "data")}`,
          "--storage.tsdb.retention.time=1h",
          `--web.listen-address=127.0.0.1:${prom.port}`,
          "--log.level=warn",
        ],
        { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
      );
      prom.#child = child;
      const keep = (b: Buffer) => {
        prom.#log = (prom.#log + b.toString()).slice(-20_000);
      };
      child.stdout?.on("data", keep);
      child.stderr?.on("data", keep);
      await waitFor(
        async () => {
          if (!prom.running) throw new Error(`prometheus exited: ${prom.#log}`);
          return (await fetch(`${prom.url}/-/ready`)).status === 200;
        },
        { timeoutMs: 30_000, intervalMs: 100, message: `prometheus ready on ${prom.url}` },
      );
    } catch (err) {
      await prom.destroy();
      throw err;
    }
    return prom;
  }

  /** Replaces the scrape targets (file_sd: written atomically, picked up within about a second). */
  setTargets(targets: ScrapeTarget[]): void {
    const groups = targets.map((t) => ({ targets: [t.address], labels: { job: t.job, ...t.labels } }));
    const tmp = `${this.#targetsFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(groups, null, 2));
    renameSync(tmp, this.#targetsFile);
  }

  async #get<T>(path: string, params: Record<string, string | string[]>): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const x of Array.isArray(v) ? v : [v]) qs.append(k, x);
    const res = await fetch(`${this.url}${path}?${qs}`);
    const body = (await res.json()) as { status: string; data?: T; error?: string; errorType?: string };
    if (body.status !== "success" || body.data === undefined) {
      throw new Error(
        `prometheus ${path} ${JSON.stringify(params)}: ${body.errorType ?? res.status} ${body.error ?? ""}`,
      );
    }
    return body.data;
  }

  /** Instant query through /api/v1/query (at `time`, default now). */
  async query(expr: string, time?: Date): Promise<QueryResult> {
    const data = await this.#get<{ resultType: QueryResult["resultType"]; result: unknown }>("/api/v1/query", {
      query: expr,
      ...(time ? { time: String(time.getTime() / 1000) } : {}),
    });
    switch (data.resultType) {
      case "vector":
        return { resultType: "vector", samples: data.result as Sample[] };
      case "matrix":
        return {
          resultType: "matrix",
          samples: (data.result as { metric: Record<string, string>; values: [number, string][] }[])
            .filter((s) => s.values.length > 0)
            .map((s) => ({ metric: s.metric, value: s.values[s.values.length - 1] as [number, string] })),
        };
      default:
        return { resultType: data.resultType, samples: [{ metric: {}, value: data.result as [number, string] }] };
    }
  }

  /** Label values through /api/v1/label/<name>/values, optionally restricted by series selectors. */
  labelValues(label: string, match: string[] = []): Promise<string[]> {
    return this.#get<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values`, { "match[]": match });
  }

  /** The active targets with their scrape health. */
  async targets(): Promise<{ labels: Record<string, string>; health: string; lastError: string }[]> {
    const data = await this.#get<{
      activeTargets: { labels: Record<string, string>; health: string; lastError: string }[];
    }>("/api/v1/targets", { state: "active" });
    return data.activeTargets;
  }

  /** Stops the process (SIGTERM, SIGKILL after 5 s) and removes its directory. */
  async destroy(): Promise<void> {
    const child = this.#child;
    if (child && this.running) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
