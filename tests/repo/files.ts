// The repository's own text files, for checks that read the repo itself (no system package needed).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const root = join(import.meta.dirname, "../..");

/** Files copied in verbatim from elsewhere: checked by their own tests, not held to the repo's text rules. */
const VERBATIM = [/^package-lock\.json$/, /(^|\/)fixtures\//];

/** Tracked files (git ls-files), minus verbatim copies and files deleted in the work tree. */
export function trackedFiles(): string[] {
  const out = execFileSync("git", ["ls-files", "-z"], { cwd: root, encoding: "utf8" });
  return out.split("\0").filter((f) => f !== "" && !VERBATIM.some((re) => re.test(f)) && existsSync(join(root, f)));
}

/** A tracked file's lines, or none for a binary file. */
export function textLines(file: string): string[] {
  const bytes = readFileSync(join(root, file));
  if (bytes.includes(0)) return [];
  return bytes.toString("utf8").split("\n");
}
