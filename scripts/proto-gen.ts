// Generates TypeScript from proto/ with buf + ts-proto, or with --check fails when proto/gen is stale.
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = join(import.meta.dirname, "..");
const check = process.argv.includes("--check");

function buf(args: string[], cwd: string): void {
  const r = spawnSync(join(root, "node_modules/.bin/buf"), args, {
    cwd,
    stdio: "inherit",
    env: { ...process.env, PATH: `${join(root, "node_modules/.bin")}:${process.env.PATH}` },
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out.sort();
}

buf(["lint"], root);
if (!check) {
  buf(["generate"], root);
  process.exit(0);
}

const scratch = mkdtempSync(join(tmpdir(), "dzug-proto-"));
try {
  cpSync(join(root, "proto"), join(scratch, "proto"), { recursive: true });
  for (const f of ["buf.yaml", "buf.gen.yaml"]) writeFileSync(join(scratch, f), readFileSync(join(root, f)));
  buf(["generate"], scratch);
  const fresh = listFiles(join(scratch, "proto/gen")).map((p) => relative(scratch, p));
  const current = listFiles(join(root, "proto/gen")).map((p) => relative(root, p));
  const stale = [...new Set([...fresh, ...current])].filter((f) => {
    try {
      return readFileSync(join(scratch, f), "utf8") !== readFileSync(join(root, f), "utf8");
    } catch {
      return true;
    }
  });
  if (stale.length > 0) {
    console.error(`proto/gen is stale (run \`npm run proto:gen\`): ${stale.join(", ")}`);
    process.exit(1);
  }
  console.log("proto/gen is up to date");
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
