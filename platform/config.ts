// Configuration: defaults (in the zod schema) < YAML file named by DZUG_CONFIG < DZUG_* environment variables.
// Validated once at start; a bad value stops start-up with a message naming the key and its variable.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";

export const ENV_PREFIX = "DZUG_";

type Env = Record<string, string | undefined>;
type Plain = Record<string, unknown>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** `discovery.leaseTtlSeconds` -> `DZUG_DISCOVERY_LEASE_TTL_SECONDS`. */
export function envNameFor(path: readonly string[]): string {
  return ENV_PREFIX + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()).join("_");
}

type LeafKind = "string" | "number" | "boolean" | "array" | "other";

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const def = s.def as { type: string; innerType?: z.ZodType; in?: z.ZodType };
    if (
      (def.type === "default" || def.type === "optional" || def.type === "nullable" || def.type === "prefault") &&
      def.innerType
    )
      s = def.innerType;
    else if (def.type === "pipe" && def.in) s = def.in;
    else return s;
  }
}

function leafKind(schema: z.ZodType): LeafKind {
  const t = (unwrap(schema).def as { type: string }).type;
  if (t === "number" || t === "int" || t === "bigint") return "number";
  if (t === "boolean") return "boolean";
  if (t === "array") return "array";
  if (t === "string" || t === "enum" || t === "literal" || t === "url") return "string";
  return "other";
}

interface Leaf {
  path: string[];
  env: string;
  kind: LeafKind;
}

/** Every leaf key of an object schema, with its environment variable. */
export function configLeaves(schema: z.ZodType, prefix: string[] = []): Leaf[] {
  const inner = unwrap(schema);
  if ((inner.def as { type: string }).type !== "object") {
    return [{ path: prefix, env: envNameFor(prefix), kind: leafKind(schema) }];
  }
  const shape = (inner as z.ZodObject).shape as Record<string, z.ZodType>;
  return Object.entries(shape).flatMap(([key, child]) => configLeaves(child, [...prefix, key]));
}

function coerce(raw: string, kind: LeafKind): unknown {
  const v = raw.trim();
  switch (kind) {
    case "number":
      return v !== "" && Number.isFinite(Number(v)) ? Number(v) : raw;
    case "boolean":
      if (/^(true|1|yes|on)$/i.test(v)) return true;
      if (/^(false|0|no|off)$/i.test(v)) return false;
      return raw;
    case "array":
      return v === ""
        ? []
        : v
            .split(",")
            .map((s) => s.trim())
            .filter((s) => s !== "");
    default:
      return raw;
  }
}

function setPath(target: Plain, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Plain;
  }
  node[path[path.length - 1] as string] = value;
}

function deepMerge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    const bothObjects =
      typeof v === "object" &&
      v !== null &&
      !Array.isArray(v) &&
      typeof b === "object" &&
      b !== null &&
      !Array.isArray(b);
    out[k] = bothObjects ? deepMerge(b as Plain, v as Plain) : v;
  }
  return out;
}

export interface LoadedConfig<T> {
  config: T;
  /** DZUG_* variables that name no key (warned about, not fatal: Kubernetes service links add some). */
  unknownEnv: string[];
  file: string | undefined;
}

export function loadConfig<S extends z.ZodObject>(schema: S, env: Env = process.env): LoadedConfig<z.infer<S>> {
  const file = env.DZUG_CONFIG?.trim() || undefined;
  let fromFile: Plain = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new ConfigError(`config file ${file} (DZUG_CONFIG) cannot be read: ${(err as Error).message}`);
    }
    const parsed: unknown = parseYaml(text);
    if (parsed !== null && parsed !== undefined && (typeof parsed !== "object" || Array.isArray(parsed))) {
      throw new ConfigError(`config file ${file} (DZUG_CONFIG) must hold a YAML mapping`);
    }
    fromFile = (parsed ?? {}) as Plain;
  }

  const leaves = configLeaves(schema);
  const fromEnv: Plain = {};
  const known = new Set(leaves.map((l) => l.env));
  for (const leaf of leaves) {
    const raw = env[leaf.env];
    if (raw !== undefined) setPath(fromEnv, leaf.path, coerce(raw, leaf.kind));
  }
  const unknownEnv = Object.keys(env)
    .filter((k) => k.startsWith(ENV_PREFIX) && k !== "DZUG_CONFIG" && !known.has(k))
    .sort();

  const result = schema.safeParse(deepMerge(fromFile, fromEnv));
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const path = issue.path.filter((p) => typeof p === "string");
      const where = path.length > 0 ? `${path.join(".")} (${envNameFor(path)})` : "(root)";
      return `  - ${where}: ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration${file ? ` (file ${file})` : ""}:\n${lines.join("\n")}`);
  }
  return { config: result.data, unknownEnv, file };
}
