// The module tables stay true: every folder named in the first column of README.md's and
// docs/architecture.md's "Layout" tables exists, and every top-level folder of the repository and every
// folder under platform/ is named in docs/architecture.md's (README's is the short one).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { root } from "./files.ts";

/** The backticked names in the first column of the table under `## Layout`. */
function layoutNames(file: string): string[] {
  const text = readFileSync(join(root, file), "utf8");
  const start = text.search(/^## Layout\b/m);
  assert.ok(start >= 0, `${file} has no "## Layout" section`);
  const rest = text.slice(start + 3);
  const end = rest.search(/^## /m);
  const rows = (end < 0 ? rest : rest.slice(0, end)).split("\n").filter((l) => l.startsWith("| `"));
  return rows.flatMap((row) => [...(row.split("|")[1] ?? "").matchAll(/`([^`]+)`/g)].map((m) => m[1] as string));
}

/** Folders that git tracks files in, `depth` levels below `under` ("" for the top). */
function trackedFolders(under: string): string[] {
  const files = execFileSync("git", ["ls-files", under === "" ? "." : under], { cwd: root, encoding: "utf8" });
  const depth = under === "" ? 0 : under.split("/").length;
  const folders = new Set<string>();
  for (const file of files.split("\n")) {
    const parts = file.split("/");
    if (parts.length > depth + 1) folders.add(parts.slice(0, depth + 1).join("/"));
  }
  return [...folders].filter((f) => !f.split("/").some((p) => p.startsWith("."))).sort();
}

for (const file of ["README.md", "docs/architecture.md"]) {
  test(`every folder ${file}'s Layout table names exists`, () => {
    const names = layoutNames(file);
    assert.ok(names.length > 5, `${file}: no Layout table rows found`);
    for (const name of names) {
      const path = name.replace(/\/$/, "").replace(/\/<[^>]+>.*$/, "");
      assert.ok(existsSync(join(root, path)), `${file} names \`${name}\` in its Layout table: no such path`);
    }
  });
}

test("every top-level folder and every folder under platform/ has a row in docs/architecture.md's Layout", () => {
  const named = new Set(layoutNames("docs/architecture.md").map((n) => n.replace(/\/$/, "").replace(/\/<[^>]+>$/, "")));
  for (const folder of [...trackedFolders(""), ...trackedFolders("platform")]) {
    const covered = named.has(folder) || [...named].some((n) => n.startsWith(`${folder}/`));
    assert.ok(covered, `docs/architecture.md's Layout table has no row for \`${folder}/\`: add one`);
  }
});
