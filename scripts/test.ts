// `npm test`: checks (proto staleness + buf lint, types, lint), then every test file against real
// processes (etcd, PostgreSQL, …), in two lanes at once (PACKAGING_LANE below). Installs missing Debian packages when it can (root + apt-get),
// else says exactly what is missing.
// `npm run test:unit` (`--unit`): only the tests that need Node and node_modules alone (the files named
// `*.unit.test.ts`), in seconds. They run with PATH cut down to node_modules/.bin and git, so a test that reaches for etcd, PostgreSQL,
// Prometheus, buildah, nginx or wrk fails there instead of passing by the machine's luck.
import { type StdioOptions, spawn, spawnSync } from "node:child_process";
import { closeSync, globSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BUILDAH,
  DEBOOTSTRAP,
  ETCD,
  ensurePrerequisites,
  NGINX,
  OPENSSL,
  POSTGRES,
  PROMETHEUS,
  WRK,
} from "./prerequisites.ts";

/**
 * The unit lane is every `*.unit.test.ts`, in the folder of the part it tests: pure logic, fakes and
 * in-process servers, the repo's own files. A file says by its name that it needs Node and node_modules
 * alone; the cut-down PATH below holds it to that.
 */
const UNIT_TESTS = "tests/**/*.unit.test.ts";

const root = join(import.meta.dirname, "..");
const bin = join(root, "node_modules/.bin");
const args = process.argv.slice(2);
const unit = args.includes("--unit");

/** The unit lane's PATH: node_modules/.bin and a directory holding only a link to git. */
function unitPath(): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "dzug-unit-path-"));
  const git = spawnSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).stdout.trim();
  if (git !== "") symlinkSync(git, join(dir, "git"));
  return { path: `${bin}:${dir}`, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const unitEnv = unit ? unitPath() : undefined;
if (unitEnv) process.on("exit", unitEnv.cleanup);
const env = { ...process.env, PATH: unitEnv?.path ?? `${bin}:${process.env.PATH}` };

if (!unit) {
  const missing = ensurePrerequisites([ETCD, POSTGRES, PROMETHEUS, BUILDAH, DEBOOTSTRAP, WRK, NGINX, OPENSSL], {
    install: true,
  });
  if (missing.length > 0) {
    for (const m of missing) process.stderr.write(`${m}\n`);
    process.exit(1);
  }
}

function step(name: string, cmd: string, cmdArgs: string[]): void {
  const started = Date.now();
  process.stdout.write(`\n== ${name}\n`);
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: "inherit", env });
  if (r.status !== 0) {
    process.stderr.write(`\n${name} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status ?? 1);
  }
  process.stdout.write(`== ${name}: ok in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

/** The unit lane's files. */
function unitFiles(): string[] {
  const found = globSync(UNIT_TESTS, { cwd: root }).sort();
  if (found.length === 0) {
    process.stderr.write(`scripts/test.ts: no file matches ${UNIT_TESTS}\n`);
    process.exit(1);
  }
  return found;
}

const only = args.filter((a) => !a.startsWith("-"));
if (only.length === 0 && !unit) {
  step("proto (buf lint, generated code up to date)", join(bin, "node"), ["scripts/proto-gen.ts", "--check"]);
  step("OpenAPI document up to date", join(bin, "node"), ["scripts/openapi.ts", "--check"]);
  step("chart service list up to date", join(bin, "node"), ["scripts/chart-services.ts", "--check"]);
  step("types (tsc --noEmit)", join(bin, "tsc"), ["-p", "tsconfig.json", "--noEmit"]);
  step("lint and format (biome check)", join(bin, "biome"), ["check", "."]);
}
/**
 * The packaging lane: the chart's objects run as local pods (etcd members, hooks, test pods), the image
 * and the scripts. Its files wait on etcd elections, helm and buildah more than they compute, and none
 * measures latency or shares, so in a full run they go in a second lane beside the others: the suite
 * takes about the longer lane's time instead of the sum (the whole suite must stay under 15 minutes on
 * an idle 2-core machine, and every test holds on a busy one).
 */
const PACKAGING_LANE = ["tests/chart/**/*.test.ts", "tests/image/**/*.test.ts", "tests/scripts/**/*.test.ts"];

const nodeTest = (files: string[]) => [
  "--test",
  "--test-concurrency=1",
  `--test-timeout=${unit ? 60_000 : 600_000}`,
  "--test-reporter=spec",
  ...files,
];

/** Runs the two lanes at once; the packaging lane's report is printed after the other's, whole. */
async function twoLanes(all: string[]): Promise<void> {
  const packaging = new Set(globSync(PACKAGING_LANE, { cwd: root }));
  const lanes = { main: all.filter((f) => !packaging.has(f)), packaging: all.filter((f) => packaging.has(f)) };
  const started = Date.now();
  process.stdout.write(
    `\n== tests (${all.length} files: ${lanes.main.length} here, ${lanes.packaging.length} in the packaging lane beside them)\n`,
  );
  const report = mkdtempSync(join(tmpdir(), "dzug-test-lane-"));
  const reportFile = join(report, "packaging.txt");
  const out = openSync(reportFile, "w");
  const run = (files: string[], stdio: StdioOptions) =>
    new Promise<number>((resolve) => {
      const child = spawn(join(bin, "node"), nodeTest(files), { cwd: root, stdio, env });
      child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  const [mainCode, packagingCode] = await Promise.all([
    run(lanes.main, "inherit"),
    run(lanes.packaging, ["ignore", out, out]),
  ]);
  closeSync(out);
  process.stdout.write(`\n== packaging lane (${lanes.packaging.length} files), run beside the above\n`);
  process.stdout.write(readFileSync(reportFile, "utf8"));
  rmSync(report, { recursive: true, force: true });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (mainCode !== 0 || packagingCode !== 0) {
    process.stderr.write(`\ntests failed (exit ${mainCode} here, ${packagingCode} in the packaging lane)\n`);
    process.exit(1);
  }
  process.stdout.write(`== tests: ok in ${seconds} s\n`);
}

if (only.length > 0 || unit) {
  const files = only.length > 0 ? only : unitFiles();
  step(`${unit ? "unit tests" : "tests"} (${files.length} files)`, join(bin, "node"), nodeTest(files));
} else {
  await twoLanes(globSync("tests/**/*.test.ts", { cwd: root }).sort());
}
