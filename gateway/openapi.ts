// The OpenAPI 3.1 document of the API, generated from the same zod schemas the gateway validates
// requests with and types its answers by (routes.ts, params.ts, douyin.ts), so it cannot drift.
// Served at /openapi.json; `npm run openapi` writes docs/api/openapi.json (checked in `npm test`).
import { z } from "zod";
import { statusFields } from "./douyin.ts";
import { ROUTES, type Route } from "./routes.ts";

type Json = Record<string, unknown>;

const BODY_TYPES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"] as const;

/** Error answers every API route can give, besides its own 200. */
const ERRORS: Readonly<Record<string, string>> = {
  "400": "Malformed request: a missing or invalid parameter (named in status_msg), or an unparsable body",
  "405": "Method not allowed (the Allow header names the right one)",
  "413": "Request body too large",
  "429": "Too many attempts from this client or for this username; retry after Retry-After seconds",
  "500": "Unexpected failure (details are logged, never sent)",
  "503": "No instance of a needed service reachable, or load shed",
  "504": "A deadline passed",
};

const TOKEN = {
  type: "string",
  description: "The caller's token (also accepted as `Authorization: Bearer <token>`)",
} as const;

/** JSON Schema of a zod schema; named schemas (`.meta({ id })`) go to components.schemas. */
function jsonSchema(schema: z.ZodType, io: "input" | "output", components: Json): Json {
  const out = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" }) as Json;
  const { $schema: _, $defs, ...rest } = out;
  if ($defs) Object.assign(components, $defs);
  return JSON.parse(JSON.stringify(rest).replaceAll('"#/$defs/', '"#/components/schemas/'));
}

function paramFields(route: Route, components: Json): { properties: Json; required: string[] } {
  const properties: Json = {};
  const required: string[] = [];
  for (const [name, field] of Object.entries(route.params.shape)) {
    properties[name] = jsonSchema(field as z.ZodType, "input", components);
    if (!(field as z.ZodType).safeParse(undefined).success) required.push(name);
  }
  if (route.auth) properties.token = TOKEN;
  return { properties, required };
}

function failureSchema(route: Route): Json {
  const extra: Json = {};
  for (const [k, v] of Object.entries(route.failureExtra ?? {})) extra[k] = { const: v };
  return {
    allOf: [{ $ref: "#/components/schemas/Failure" }],
    ...(route.failureExtra ? { properties: extra, required: Object.keys(extra) } : {}),
  };
}

/** "/douyin/relation/follow/list/" -> "RelationFollowList" (components are named after their route). */
function routeName(route: Route): string {
  return route.path
    .replace(/^\/douyin\//, "")
    .split(/[/_]/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join("");
}

function operation(route: Route, components: Json): Json {
  const { properties, required } = paramFields(route, components);
  const paramsName = `${routeName(route)}Params`;
  components[paramsName] = {
    type: "object",
    description: `Parameters of ${route.path}; required: ${required.join(", ") || "none"} (${route.auth ? "and token, " : ""}in the query or the body)`,
    properties,
  };
  const result = jsonSchema(route.result, "output", components) as { properties?: Json; required?: string[] };
  const success = {
    type: "object",
    properties: { status_code: { const: 0 }, status_msg: { type: "string" }, ...result.properties },
    required: ["status_code", "status_msg", ...(result.required ?? [])],
    additionalProperties: false,
  };
  const failure = failureSchema(route);
  const json = (schema: Json) => ({ content: { "application/json": { schema } } });
  const responses: Json = {
    "200": {
      description: "Processed: status_code 0 with the result, or a business failure (non-zero status_code)",
      ...json({ oneOf: [success, { ...failure, not: { properties: { status_code: { const: 0 } } } }] }),
    },
  };
  for (const [code, description] of Object.entries(ERRORS)) {
    if (code === "413" && route.method === "get") continue;
    responses[code] = { description, ...json(failure) };
  }
  return {
    summary: route.summary,
    description: `Also served without the trailing slash. Parameters arrive in the query, or in a body as ${BODY_TYPES.join(", ")}; the body wins for the same name.`,
    parameters: Object.entries(properties).map(([name, schema]) => ({
      name,
      in: "query",
      required: required.includes(name),
      schema,
    })),
    requestBody: {
      required: false,
      content: Object.fromEntries(
        BODY_TYPES.map((t) => [
          t,
          { schema: { type: "object", properties, ...(required.length ? { required } : {}) } },
        ]),
      ),
    },
    ...(route.auth ? { security: [{ token: [] }, { bearer: [] }] } : {}),
    responses,
  };
}

export function openApiDocument(routes: readonly Route[] = ROUTES): Json {
  const components: Json = {
    Failure: {
      type: "object",
      properties: jsonSchema(z.object(statusFields), "output", {}).properties,
      required: ["status_code", "status_msg"],
    },
  };
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const entry = paths[route.path] ?? {};
    entry[route.method] = operation(route, components);
    paths[route.path] = entry;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "dzug — the douyin HTTP API",
      version: "1",
      description: "Every answer is JSON with status_code (0 success) and status_msg. See docs/api/douyin-http.md.",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        token: { type: "apiKey", in: "query", name: "token" },
        bearer: { type: "http", scheme: "bearer" },
      },
    },
  };
}
