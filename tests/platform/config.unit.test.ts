// Configuration: defaults < YAML file < environment, validated once, with messages naming key and variable.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parse } from "yaml";
import { gatewayConfigSchema } from "../../gateway/config.ts";
import { ConfigError, configLeaves, envNameFor, loadConfig } from "../../platform/config.ts";
import { relationConfigSchema } from "../../services/relation/config.ts";
import { userConfigSchema } from "../../services/user/config.ts";

const root = join(import.meta.dirname, "../..");
const SECRET = "52jromxw8QDewJZXt+u81jkVZhqlVpxdhauphwUdhpU=";

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function yamlFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "dzug-config-"));
  dirs.push(dir);
  const file = join(dir, "config.yaml");
  writeFileSync(file, text);
  return file;
}

test("env names follow the key path", () => {
  assert.equal(envNameFor(["discovery", "leaseTtlSeconds"]), "DZUG_DISCOVERY_LEASE_TTL_SECONDS");
  assert.equal(envNameFor(["etcd", "endpoints"]), "DZUG_ETCD_ENDPOINTS");
});

test("defaults < file < environment", () => {
  const file = yamlFile(`grpc:\n  port: 7000\nadmin:\n  port: 7001\nauth:\n  jwtSecret: ${SECRET}\n`);
  const { config } = loadConfig(userConfigSchema, {
    DZUG_CONFIG: file,
    DZUG_GRPC_PORT: "7100",
    DZUG_ETCD_ENDPOINTS: "http://a:1, http://b:2",
  });
  assert.equal(config.grpc.port, 7100); // env beats file
  assert.equal(config.admin.port, 7001); // file beats default
  assert.equal(config.discovery.leaseTtlSeconds, 10); // default
  assert.deepEqual(config.etcd.endpoints, ["http://a:1", "http://b:2"]);
  assert.equal(config.auth.jwtSecret, SECRET);
});

test("discovery.advertiseHost: an IP (IPv6 bare or bracketed) or DNS name; link-local and garbage refused", () => {
  const load = (host: string) =>
    loadConfig(relationConfigSchema, { DZUG_DISCOVERY_ADVERTISE_HOST: host }).config.discovery.advertiseHost;
  for (const ok of ["10.0.0.5", "fd00::5", "[fd00::5]", "relation.dzug.svc"]) assert.equal(load(ok), ok);
  for (const [bad, why] of [
    ["169.254.169.254", /link-local/],
    ["a b", /neither an IP address nor a DNS name/],
    ["[10.0.0.5]", /not an IPv6 address|neither/],
  ] as const) {
    assert.throws(
      () => load(bad),
      (err: unknown) =>
        err instanceof ConfigError && /DZUG_DISCOVERY_ADVERTISE_HOST/.test(err.message) && why.test(err.message),
    );
  }
});

test("a bad value names the key and its variable; all problems at once", () => {
  assert.throws(
    () =>
      loadConfig(userConfigSchema, {
        DZUG_GRPC_PORT: "abc",
        DZUG_BALANCER_STRATEGY: "fastest",
        DZUG_ETCD_ENDPOINTS: "localhost:2379",
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /grpc\.port \(DZUG_GRPC_PORT\)/);
      assert.match(err.message, /balancer\.strategy \(DZUG_BALANCER_STRATEGY\)/);
      assert.match(err.message, /etcd\.endpoints \(DZUG_ETCD_ENDPOINTS\)/);
      assert.match(err.message, /auth\.jwtSecret \(DZUG_AUTH_JWT_SECRET\): is required/);
      return true;
    },
  );
});

test("a misspelt key in the file is rejected", () => {
  const file = yamlFile(`auth:\n  jwtSecret: ${SECRET}\ndiscovery:\n  leaseTTL: 5\n`);
  assert.throws(() => loadConfig(userConfigSchema, { DZUG_CONFIG: file }), /leaseTTL/);
});

test("unknown DZUG_ variables are reported, not fatal", () => {
  const { unknownEnv } = loadConfig(relationConfigSchema, { DZUG_RELATION_SERVICE_HOST: "10.0.0.1" });
  assert.deepEqual(unknownEnv, ["DZUG_RELATION_SERVICE_HOST"]);
});

test("config.example.yaml matches every process's schema", () => {
  const example = parse(readFileSync(join(root, "config.example.yaml"), "utf8")) as Record<string, any>;
  // Its placeholder secret is refused (see below); the rest must load as it is.
  example.auth.jwtSecret = SECRET;
  const schemas = { user: userConfigSchema, relation: relationConfigSchema, gateway: gatewayConfigSchema };
  const documented = new Set<string>();
  for (const [name, schema] of Object.entries(schemas)) {
    const keys = new Set(Object.keys(schema.shape));
    const mine = Object.fromEntries(Object.entries(example).filter(([k]) => keys.has(k)));
    const file = yamlFile(JSON.stringify(mine));
    assert.doesNotThrow(() => loadConfig(schema, { DZUG_CONFIG: file }), `${name} rejects its part of the example`);
    for (const leaf of configLeaves(schema)) documented.add(leaf.path.join("."));
  }
  // every key of every schema appears in the example
  const flat = (o: unknown, prefix: string[] = []): string[] =>
    typeof o === "object" && o !== null && !Array.isArray(o)
      ? Object.entries(o).flatMap(([k, v]) => flat(v, [...prefix, k]))
      : [prefix.join(".")];
  const inExample = new Set(flat(example));
  for (const key of documented) assert.ok(inExample.has(key), `config.example.yaml lacks ${key}`);
});

test("a process with a bad value stops at start-up with a one-line reason", () => {
  const r = spawnSync(process.execPath, ["services/user/main.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH, DZUG_GRPC_PORT: "70000", DZUG_AUTH_JWT_SECRET: SECRET },
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /grpc\.port \(DZUG_GRPC_PORT\)/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
});

test("JWT secrets that anyone could know or guess are refused at start with the reason", () => {
  const example = parse(readFileSync(join(root, "config.example.yaml"), "utf8")) as { auth: { jwtSecret: string } };
  const cases: Array<[string, RegExp | undefined]> = [
    [example.auth.jwtSecret, /placeholder/],
    ["CHANGEME-please-0123456789abcdefghijklmnopqrstuvwxyz", /placeholder/],
    ["a".repeat(64), /too predictable/],
    ["abababababababababababababababababababab", /too predictable/],
    ["0123456789012345678901234567890123", /too predictable/],
    ["0123456789abcdef0123456789abcdef", /too predictable/],
    ["test-secret-test-secret-test-secret-0123456789", /too predictable/],
    ["Secret1!Secret1!Secret1!Secret1!Secret1!", /too predictable/],
    ["abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", /too predictable/],
    ["zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJIHGFEDCBA", /too predictable/],
    [SECRET, undefined],
    ["Vq3xN8mZ2pL7wR4tY6uK1sD9fG5hJ0aQ-bC_eW", undefined],
  ];
  for (const [secret, problem] of cases) {
    const load = () => loadConfig(userConfigSchema, { DZUG_AUTH_JWT_SECRET: secret });
    if (problem)
      assert.throws(
        load,
        (err: Error) => /auth\.jwtSecret \(DZUG_AUTH_JWT_SECRET\)/.test(err.message) && problem.test(err.message),
        secret,
      );
    else assert.doesNotThrow(load, secret);
  }
  assert.throws(
    () =>
      loadConfig(userConfigSchema, {
        DZUG_AUTH_JWT_SECRET: SECRET,
        DZUG_AUTH_TOKEN_TTL_SECONDS: String(8 * 24 * 3600),
      }),
    /auth\.tokenTtlSeconds/,
  );
});
