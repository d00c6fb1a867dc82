// The repo stands alone: no absolute path of a development machine in any tracked file, and no Markdown
// link that leads outside the repo or to a file that is not in it. System paths (/usr/lib/postgresql,
// /etc/ssl, /proc, /tmp, /dev/null) are fine; home directories and workspaces are not.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { test } from "node:test";
import { root, textLines, trackedFiles } from "./files.ts";

// First path segments that only ever name someone's machine. Built from parts so this file passes too.
const MACHINE_ROOTS = ["work", "home", "Users", "root", "mnt", "media", "private/var/folders"];
const MACHINE_PATH = new RegExp(
  `(?<![\\w.$}-])(?:/(?:${MACHINE_ROOTS.join("|")})/[\\w.@~-]+|~/[\\w.-]+|[A-Za-z]:\\\\(?:Users|work)\\\\)`,
  "g",
);
// Machine-independent paths that match the above, each with why it is not a machine path.
const ALLOWED: readonly { path: RegExp; why: string }[] = [
  { path: /^\/root\/\.npm$/, why: "npm's cache inside the image build container (Dockerfile, scripts/image)" },
];

function machinePaths(file: string): string[] {
  const found: string[] = [];
  textLines(file).forEach((line, i) => {
    for (const [path] of line.matchAll(MACHINE_PATH)) {
      if (!ALLOWED.some((a) => a.path.test(path))) found.push(`${file}:${i + 1}: ${path}`);
    }
  });
  return found;
}

/** [text](target) and [label]: target outside fenced code blocks and inline code. */
function markdownLinks(file: string): { line: number; target: string }[] {
  const links: { line: number; target: string }[] = [];
  let fenced = false;
  textLines(file).forEach((raw, i) => {
    if (/^\s*(```|~~~)/.test(raw)) fenced = !fenced;
    if (fenced) return;
    const line = raw.replace(/`[^`]*`/g, "``");
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/g)) {
      links.push({ line: i + 1, target: (m[1] ?? m[2]) as string });
    }
  });
  return links;
}

function badLinks(file: string): string[] {
  const bad: string[] = [];
  for (const { line, target } of markdownLinks(file)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("#")) continue; // URL or anchor
    const path = decodeURIComponent(target.replace(/[#?].*$/, ""));
    const where = `${file}:${line}: ${target}`;
    if (path.startsWith("/")) bad.push(`${where} (absolute path; link relative to ${dirname(file)}/)`);
    else if (relative(root, join(root, dirname(file), path)).startsWith("..")) bad.push(`${where} (outside the repo)`);
    else if (!existsSync(join(root, dirname(file), path))) bad.push(`${where} (no such file in the repo)`);
  }
  return bad;
}

test("no tracked file names an absolute path of a development machine", () => {
  const found = trackedFiles().flatMap(machinePaths);
  if (found.length > 0)
    assert.fail(`machine paths (make them relative to the repo or drop them):\n${found.join("\n")}`);
});

test("every Markdown link stays inside the repo and names a file that exists", () => {
  const bad = trackedFiles()
    .filter((f) => f.endsWith(".md"))
    .flatMap(badLinks);
  if (bad.length > 0) assert.fail(`Markdown links to fix:\n${bad.join("\n")}`);
});

test("the machine-path pattern tells machine paths from system paths", () => {
  const hits = (s: string) => [...s.matchAll(MACHINE_PATH)].map((m) => m[0]);
  // Samples assembled at run time, so this file holds no machine path itself.
  const samples = [
    ["work", "wt/x/y.ts"],
    ["home", "alice/src"],
    ["root", "shared/x"],
    ["Users", "bob/dzug"],
  ];
  const machine = [
    ...samples.map(([top, rest]) => `see /${top}/${rest}`),
    `${"~"}/dzug/notes`,
    `C:${"\\"}Users${"\\"}bob`,
  ];
  for (const bad of machine) {
    assert.notDeepEqual(hits(bad), [], bad);
  }
  for (const ok of ["/usr/lib/postgresql/15/bin", "/etc/ssl/certs", "/proc/self/stat", "/tmp/dzug-x", "/dev/null"]) {
    assert.deepEqual(hits(ok), [], ok);
  }
  for (const ok of ["https://example.com/home/x", "a/work/b", "/douyin/user/"]) {
    assert.deepEqual(hits(ok), [], ok);
  }
});
