// `npm run new:service -- <name>`: a new gRPC service that builds, lints, passes its own test, runs in
// `npm run up` and in the chart. It checks everything first and writes nothing when any check fails.
// Then: proto/ + services/<name>/ (which `npm run up` and the test harness find by its folder) + a chart
// workload + tests/services/<name>.test.ts, the name added to the chart's service list
// (charts/dzug/templates/_services.tpl, regenerated), a values block and its schema entry, and `npm run proto:gen`.
// docs/adding-a-service.md says what to do next.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { callsOf, SERVICES_TPL, serviceCalls, servicesTpl } from "./lib/chart-services.ts";
import { namesOf, serviceFiles } from "./new-service/templates.ts";

const root = process.env.DZUG_NEW_SERVICE_ROOT ?? join(import.meta.dirname, "..");
const read = (path: string) => readFileSync(join(root, path), "utf8");

/** One lowercase word: it becomes a directory, a proto package, an etcd key, a label and a DNS name. */
const NAME = /^[a-z][a-z0-9]{1,19}$/;
/** Names taken by something that is not a gRPC service (chart components, folders, helm test pods). */
const RESERVED = new Set(["gateway", "etcd", "postgresql", "platform", "test", "tests", "index", "dzug", "grafana"]);

const VALUES = "charts/dzug/values.yaml";
const CI_VALUES = "charts/dzug/ci";
const SCHEMA = "charts/dzug/values.schema.json";

class Refusal extends Error {}

function checkName(name: string | undefined): string {
  if (!name) throw new Refusal("usage: npm run new:service -- <name>   (e.g. comment)");
  if (!NAME.test(name))
    throw new Refusal(
      `"${name}" is not a valid service name: one lowercase word, a letter then letters or digits, 2–20 characters (e.g. comment)`,
    );
  if (RESERVED.has(name))
    throw new Refusal(`"${name}" is reserved (it names a part of the system that is not a gRPC service)`);
  return name;
}

/**
 * A values file with a block for `name` copied from the last service's block (same defaults and, in
 * charts/dzug/ci/, the same test variant); undefined when the file has no such block.
 */
function withValues(path: string, name: string, last: string): string | undefined {
  const text = read(path);
  if (name in ((parseYaml(text) ?? {}) as Record<string, unknown>))
    throw new Refusal(`${path} already has a top-level "${name}" key`);
  const block = new RegExp(`^${last}:\\n(?:(?:  .*)?\\n)*?(?=\\S)`, "m").exec(text);
  if (!block) return undefined;
  const gap = block[0].endsWith("\n\n") ? "\n\n" : "\n";
  const copy = block[0].replace(`${last}:`, `${name}:`).trimEnd();
  return text.replace(block[0], `${block[0].trimEnd()}${gap}${copy}${gap}`);
}

/** values.schema.json with `name` referring to the shared gRPC service definition, after `last`. */
function withSchema(name: string, last: string): string {
  const schema = JSON.parse(read(SCHEMA)) as { properties: Record<string, unknown>; definitions?: object };
  if (name in schema.properties) throw new Refusal(`${SCHEMA} already has a "${name}" property`);
  if (!schema.definitions || !("grpcService" in schema.definitions))
    throw new Refusal(`${SCHEMA}: no definitions.grpcService to refer to`);
  const properties: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema.properties)) {
    properties[k] = v;
    if (k === last) properties[name] = { $ref: "#/definitions/grpcService" };
  }
  return `${JSON.stringify({ ...schema, properties }, null, 2)}\n`;
}

function plan(name: string): Map<string, string> {
  const files = serviceFiles(namesOf(name));
  const taken = [...Object.keys(files), `services/${name}`, `proto/dzug/${name}`].filter((p) =>
    existsSync(join(root, p)),
  );
  if (taken.length > 0) throw new Refusal(`a service "${name}" exists already: ${taken.join(", ")}`);
  const current = serviceCalls(root);
  // The service whose values block comes last in values.yaml: the new block is a copy placed after it.
  const valueKeys = Object.keys((parseYaml(read(VALUES)) ?? {}) as Record<string, unknown>);
  const last = valueKeys.findLast((k) => current.some((s) => s.name === k));
  if (!last) throw new Refusal(`${VALUES} has no block of a service in services/ to copy`);
  const main = files[`services/${name}/main.ts`];
  if (main === undefined) throw new Error(`the templates make no services/${name}/main.ts`);
  const chartList = servicesTpl(
    [...current, { name, calls: callsOf(main) }].sort((a, b) => a.name.localeCompare(b.name)),
  );
  const valuesFiles = [
    VALUES,
    ...readdirSync(join(root, CI_VALUES))
      .map((f) => `${CI_VALUES}/${f}`)
      .sort(),
  ];
  return new Map([
    ...Object.entries(files),
    [SERVICES_TPL, chartList],
    ...valuesFiles.flatMap((path): Array<[string, string]> => {
      const text = withValues(path, name, last);
      if (text === undefined && path === VALUES) throw new Refusal(`${VALUES}: no "${last}:" block to copy`);
      return text === undefined ? [] : [[path, text]];
    }),
    [SCHEMA, withSchema(name, last)],
  ]);
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(join(root, "node_modules/.bin", cmd), args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.status ?? r.signal})`);
}

let writes: Map<string, string>;
try {
  writes = plan(checkName(process.argv[2]));
} catch (err) {
  if (!(err instanceof Refusal)) throw err;
  console.error(`new:service: ${err.message}. Nothing was changed.`);
  process.exit(1);
}
for (const [path, text] of writes) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}
run("node", ["scripts/proto-gen.ts"]);
run("biome", ["format", "--write", ...[...writes.keys()].filter((p) => p.endsWith(".ts") || p.endsWith(".json"))]);
const name = process.argv[2]!;
console.log(`
Service "${name}" created. Next (docs/adding-a-service.md):
  1. proto/dzug/${name}/v1/${name}.proto: your RPCs (read-only ones NO_SIDE_EFFECTS), then npm run proto:gen
  2. services/${name}/: migrations, store and handlers; its test: npm test -- tests/services/${name}.test.ts
  3. routes in gateway/routes.ts and the service in gateway/upstreams.ts, if the API calls it
It already runs in \`npm run up\`, the test harness (tests/harness/system.ts) and the chart.`);
