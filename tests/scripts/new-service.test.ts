// `npm run new:service` in a temporary copy of the repository (its files as git lists them, node_modules
// linked): refusals change nothing; a new service type-checks, lints, passes its own test (2 instances
// registered in a real etcd, called through discovery) and renders in the chart with everything a
// service has there.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { apiVersionArgs, helmBin, parseManifests, REPO_ROOT } from "../chart/helpers.ts";

const NAME = "gadget";
let copy = "";

function run(cmd: string, args: string[]): { code: number | null; out: string } {
  const r = spawnSync(cmd, args, {
    cwd: copy,
    encoding: "utf8",
    env: { ...process.env, PATH: `${join(copy, "node_modules/.bin")}:${process.env.PATH}` },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const node = (args: string[]) => run(join(copy, "node_modules/.bin/node"), args);
const git = (args: string[]) => execFileSync("git", args, { cwd: copy, encoding: "utf8" });

before(() => {
  copy = mkdtempSync(join(tmpdir(), "dzug-new-service-"));
  const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: REPO_ROOT,
    encoding: "utf8",
  })
    .split("\0")
    .filter(Boolean);
  for (const f of files) {
    mkdirSync(dirname(join(copy, f)), { recursive: true });
    cpSync(join(REPO_ROOT, f), join(copy, f));
  }
  symlinkSync(join(REPO_ROOT, "node_modules"), join(copy, "node_modules"));
  for (const args of [
    ["init", "-q"],
    ["add", "-A"],
    ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"],
  ])
    git(args);
});

after(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

describe("npm run new:service", () => {
  for (const [name, why] of [
    [undefined, /usage: npm run new:service -- <name>/],
    ["relation", /a service "relation" exists already/],
    ["Comment", /not a valid service name/],
    ["my-service", /not a valid service name/],
    ["gateway", /reserved/],
  ] as const) {
    test(`refuses ${name ?? "no name"} with a clear message and changes nothing`, () => {
      const r = node(["scripts/new-service.ts", ...(name ? [name] : [])]);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, why);
      assert.match(r.out, /Nothing was changed/);
      assert.equal(git(["status", "--porcelain"]), "");
    });
  }

  test("creates a service that type-checks, lints and passes its own test", { timeout: 300_000 }, () => {
    const made = node(["scripts/new-service.ts", NAME]);
    assert.equal(made.code, 0, made.out);
    for (const step of [
      ["proto up to date", ["scripts/proto-gen.ts", "--check"]],
      ["chart service list up to date", ["scripts/chart-services.ts", "--check"]],
      ["tsc", [join(copy, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json", "--noEmit"]],
      ["biome", [join(copy, "node_modules/@biomejs/biome/bin/biome"), "check", "."]],
      ["its test", ["--test", `tests/services/${NAME}.test.ts`]],
    ] as const) {
      const r = node([...step[1]]);
      assert.equal(r.code, 0, `${step[0]} failed:\n${r.out}`);
    }
    const again = node(["scripts/new-service.ts", NAME]);
    assert.equal(again.code, 1);
    assert.match(again.out, /exists already/);
  });

  test("renders in the chart: workload, NetworkPolicy, monitors, helm test, the service list", () => {
    const r = run(helmBin(), [
      "template",
      "dzug",
      join(copy, "charts/dzug"),
      "-f",
      join(copy, "charts/dzug/ci/full-values.yaml"),
      // full-values asks for monitors where their CRDs exist (enabled: auto): a cluster that has them.
      ...apiVersionArgs(),
    ]);
    assert.equal(r.code, 0, r.out);
    const objs = parseManifests(r.out);
    const named = (kind: string) => objs.find((o) => o.kind === kind && o.metadata.name === `dzug-${NAME}`);
    for (const kind of ["Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor"])
      assert.ok(named(kind), `no ${kind} dzug-${NAME}`);
    const dep = named("Deployment")!;
    assert.deepEqual(dep.spec.template.spec.containers[0].args, [`services/${NAME}/main.ts`]);
    const grpcTest = objs.find((o) => o.metadata.name === "dzug-test-grpc-health");
    assert.ok(grpcTest?.spec.containers.some((c: any) => c.args[0] === `-addr=dzug-${NAME}:50051`));
    // The dashboards select services by the `service` label's values: no service is named in them.
    for (const f of readdirSync(join(copy, "charts/dzug/dashboards")))
      assert.doesNotMatch(
        readFileSync(join(copy, "charts/dzug/dashboards", f), "utf8"),
        /service=~?\\?"(user|relation)/,
      );
    const values = run(helmBin(), ["template", "dzug", join(copy, "charts/dzug"), "--set", `${NAME}.replicaCount=x`]);
    assert.notEqual(values.code, 0, "the values schema checks the new service's block");
  });
});
