// The docs name what the code has: every dzug_* metric the code registers is listed (with its labels)
// in docs/architecture.md's "Metrics" section and every metric the docs name exists; every config key
// of every process's zod schema is in config.example.yaml and docs/architecture.md's configuration
// table, and neither documents a key the schemas do not accept. Failures say what to write where.
import assert from "node:assert/strict";
import { globSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { test } from "node:test";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { configLeaves, envNameFor } from "../../platform/config.ts";
import { root } from "./files.ts";

const ARCHITECTURE = "docs/architecture.md";
const EXAMPLE = "config.example.yaml";
const read = (file: string) => readFileSync(join(root, file), "utf8");
const lineOf = (text: string, index: number) => text.slice(0, index).split("\n").length;

/** The lines under `## <title>` up to the next `## ` heading. */
function section(markdown: string, title: string): string {
  const start = markdown.search(new RegExp(`^## ${title}\\b.*$`, "m"));
  assert.ok(start >= 0, `${ARCHITECTURE} has no "## ${title}" section`);
  const rest = markdown.slice(start + 3);
  const end = rest.search(/^## /m);
  return end < 0 ? rest : rest.slice(0, end);
}

// ------------------------------------------------------------------ metrics

interface Registration {
  name: string;
  labels: string[];
  where: string;
}

/** `name: "dzug_…"` (with the `labelNames` beside it) in the processes' code. */
function registeredMetrics(): Registration[] {
  const files = globSync("{platform,gateway,services}/**/*.ts", { cwd: root }).sort();
  return files.flatMap((file) => {
    const text = read(file);
    return [...text.matchAll(/\bname:\s*"(dzug_\w+)"/g)].map((m) => {
      const after = text.slice(m.index).slice(0, 600);
      const own = after.slice(0, after.indexOf("}") + 1);
      const labels = /labelNames:\s*\[([^\]]*)\]/.exec(own)?.[1] ?? "";
      return {
        name: m[1] as string,
        labels: [...labels.matchAll(/"(\w+)"/g)].map((l) => l[1] as string),
        where: `${file}:${lineOf(text, m.index)}`,
      };
    });
  });
}

/** Labels every series carries (registry.setDefaultLabels): label names, not metrics. */
function defaultLabels(): Set<string> {
  const text = read("platform/metrics.ts");
  const body = /setDefaultLabels\(\{([^}]*)\}/.exec(text)?.[1] ?? "";
  return new Set([...body.matchAll(/(\w+)\s*:/g)].map((m) => m[1] as string));
}

const SERIES_SUFFIX = /_(bucket|count|sum|created)$/;

test("every metric the code registers is listed, with its labels, in docs/architecture.md's Metrics section", () => {
  const listed = section(read(ARCHITECTURE), "Metrics");
  const problems: string[] = [];
  for (const r of registeredMetrics()) {
    const labels = `{${r.labels.join(",")}}`;
    const doc = new RegExp(`\`${r.name}(\\{[^}]*\\})?\``).exec(listed);
    if (!doc) {
      problems.push(
        `${r.name} (registered at ${r.where}) is not listed: add "- \`${r.name}${labels}\` — what it counts" ` +
          `to the "## Metrics" section of ${ARCHITECTURE}`,
      );
    } else if (doc[1] !== undefined && doc[1].replace(/\s/g, "") !== labels) {
      problems.push(
        `${r.name} is listed in ${ARCHITECTURE} with labels ${doc[1]} but registered at ${r.where} with ${labels}: ` +
          "write the registered labels",
      );
    }
  }
  if (problems.length > 0) assert.fail(problems.join("\n"));
});

test("every dzug_* metric the docs name is registered by the code", () => {
  const registered = new Set(registeredMetrics().map((r) => r.name));
  const labels = defaultLabels();
  const files = ["README.md", ...globSync("docs/*.md", { cwd: root }).sort()];
  const problems: string[] = [];
  for (const file of files) {
    const text = read(file);
    for (const m of text.matchAll(/\bdzug_[a-z0-9_]*[a-z0-9]/g)) {
      const name = m[0];
      if (labels.has(name) || registered.has(name) || registered.has(name.replace(SERIES_SUFFIX, ""))) continue;
      problems.push(
        `${file}:${lineOf(text, m.index)}: ${name} is not registered by platform/, gateway/ or services/: ` +
          "correct the name in the doc, or drop it if the metric is gone",
      );
    }
  }
  if (problems.length > 0) assert.fail(problems.join("\n"));
});

// ------------------------------------------------------------------ configuration keys

/** Every process's config schema: the exports named *ConfigSchema of gateway/ and services/<name>/config.ts. */
async function processSchemas(): Promise<{ process: string; schema: z.ZodType }[]> {
  const files = ["gateway/config.ts", ...globSync("services/*/config.ts", { cwd: root }).sort()];
  const out: { process: string; schema: z.ZodType }[] = [];
  for (const file of files) {
    const mod = (await import(join(root, file))) as Record<string, unknown>;
    const schemas = Object.entries(mod).filter(([name]) => name.endsWith("ConfigSchema"));
    assert.ok(schemas.length > 0, `${file} exports no *ConfigSchema (the process's whole config schema)`);
    const process = file.startsWith("gateway/") ? "gateway" : basename(join(file, ".."));
    for (const [, schema] of schemas) out.push({ process, schema: schema as z.ZodType });
  }
  return out;
}

/** key path -> the processes that accept it. */
async function schemaKeys(): Promise<Map<string, string[]>> {
  const keys = new Map<string, string[]>();
  for (const { process, schema } of await processSchemas()) {
    for (const leaf of configLeaves(schema)) {
      const key = leaf.path.join(".");
      keys.set(key, [...(keys.get(key) ?? []), process]);
    }
  }
  return keys;
}

/** Leaf key paths of config.example.yaml (a list is one leaf). */
function exampleKeys(value: unknown = parseYaml(read(EXAMPLE)), prefix: string[] = []): string[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [prefix.join(".")];
  return Object.entries(value).flatMap(([k, v]) => exampleKeys(v, [...prefix, k]));
}

interface TableRow {
  keys: string[];
  cells: string[];
  line: number;
}

/** Rows of the `| key | env | … |` table in docs/architecture.md's Configuration section. */
function configTable(): TableRow[] {
  const text = read(ARCHITECTURE);
  const start = text.indexOf("\n| key | env |");
  assert.ok(start >= 0, `${ARCHITECTURE} has no "| key | env | default | used by |" configuration table`);
  const first = lineOf(text, start + 1);
  const lines = text.slice(start + 1).split("\n");
  const rows: TableRow[] = [];
  for (const [i, line] of lines.entries()) {
    if (!line.startsWith("|")) break;
    if (i < 2) continue; // header and separator
    const cells = line.split("|").slice(1, -1);
    const keys = [...(cells[0] ?? "").matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
    rows.push({ keys, cells, line: first + i });
  }
  return rows;
}

/** A documented key matches a schema key; `<name>` segments stand for any one segment. */
function matches(documented: string, key: string): boolean {
  const pattern = documented
    .split(".")
    .map((seg) => (/^<\w+>$/.test(seg) ? "[^.]+" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("\\.");
  return new RegExp(`^${pattern}$`).test(key);
}

test("config.example.yaml holds every config key the processes accept, and no other", async () => {
  const keys = await schemaKeys();
  const example = exampleKeys();
  const problems: string[] = [];
  for (const [key, processes] of keys) {
    if (!example.includes(key)) {
      problems.push(
        `${key} (accepted by ${processes.join(", ")}) is missing from ${EXAMPLE}: add it under its section with its default and a comment`,
      );
    }
  }
  for (const key of example) {
    if (!keys.has(key))
      problems.push(`${EXAMPLE} has ${key}, which no process's config schema accepts: remove or rename it`);
  }
  if (problems.length > 0) assert.fail(problems.join("\n"));
});

test("docs/architecture.md's configuration table has one row for every config key, with its variable", async () => {
  const keys = await schemaKeys();
  const rows = configTable();
  const problems: string[] = [];
  for (const [key, processes] of keys) {
    const row = rows.find((r) => r.keys.some((k) => matches(k, key)));
    if (!row) {
      problems.push(
        `${key} (accepted by ${processes.join(", ")}) has no row in the configuration table of ${ARCHITECTURE}: ` +
          `add "| \`${key}\` | \`${envNameFor(key.split("."))}\` | default | ${processes.join(", ")} |"`,
      );
    } else if (!(row.cells[1] ?? "").includes(`\`${envNameFor(key.split("."))}\``)) {
      problems.push(
        `${ARCHITECTURE}:${row.line}: the env column of ${key} lacks \`${envNameFor(key.split("."))}\`: add it`,
      );
    }
  }
  for (const row of rows) {
    for (const documented of row.keys) {
      if (![...keys.keys()].some((key) => matches(documented, key))) {
        problems.push(
          `${ARCHITECTURE}:${row.line}: ${documented} is no process's config key: remove the row or correct the key`,
        );
      }
    }
  }
  if (problems.length > 0) assert.fail(problems.join("\n"));
});
