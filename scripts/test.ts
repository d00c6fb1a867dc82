// `npm test`: checks (proto staleness + buf lint, types, lint), then every test file against real
// processes (etcd, PostgreSQL, …). Installs missing Debian packages when it can (root + apt-get),
// else says exactly what is missing.
import { spawnSync } from "node:child_process";
import { globSync } from "node:fs";
import { join } from "node:path";
import { BUILDAH, DEBOOTSTRAP, ETCD, ensurePrerequisites, POSTGRES, PROMETHEUS } from "./prerequisites.ts";

const root = join(import.meta.dirname, "..");
const bin = join(root, "node_modules/.bin");
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
const args = process.argv.slice(2);

const missing = ensurePrerequisites([ETCD, POSTGRES, PROMETHEUS, BUILDAH, DEBOOTSTRAP], { install: true });
if (missing.length > 0) {
  for (const m of missing) process.stderr.write(`${m}\n`);
  process.exit(1);
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

const only = args.filter((a) => !a.startsWith("-"));
if (only.length === 0) {
  step("proto (buf lint, generated code up to date)", join(bin, "node"), ["scripts/proto-gen.ts", "--check"]);
  step("OpenAPI document up to date", join(bin, "node"), ["scripts/openapi.ts", "--check"]);
  step("types (tsc --noEmit)", join(bin, "tsc"), ["-p", "tsconfig.json", "--noEmit"]);
  step("lint and format (biome check)", join(bin, "biome"), ["check", "."]);
}
const files = only.length > 0 ? only : globSync("tests/**/*.test.ts", { cwd: root }).sort();
step(`tests (${files.length} files)`, join(bin, "node"), [
  "--test",
  "--test-concurrency=1",
  "--test-timeout=600000",
  "--test-reporter=spec",
  ...files,
]);
