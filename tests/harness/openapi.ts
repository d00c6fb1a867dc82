// Validates real answers against docs/api/openapi.json (the document clients read): every API answer
// a test receives through the harness' call helpers is checked, and the paths/statuses checked are
// remembered so a test can assert that every route was seen succeeding and failing.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";

const FILE = join(import.meta.dirname, "..", "..", "docs", "api", "openapi.json");
export const openApi = JSON.parse(readFileSync(FILE, "utf8")) as {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
};

const ajv = new Ajv2020({ allErrors: true, strict: false });
ajv.addSchema(openApi, "openapi");
const compiled = new Map<string, ValidateFunction>();

/** `method path status` of every answer validated so far in this process. */
export const validatedAnswers = new Set<string>();

const pointer = (...parts: string[]) => parts.map((p) => p.replaceAll("~", "~0").replaceAll("/", "~1")).join("/");

/**
 * Throws when `body` is not what the document says `method path` answers with `status`. Paths the
 * document does not describe (operations endpoints) are ignored; HEAD answers have no body.
 */
export function assertDocumentedAnswer(method: string, url: string, status: number, body: unknown): void {
  const m = method.toLowerCase();
  if (m === "head") return;
  const pathname = new URL(url, "http://x").pathname;
  const path = pathname.endsWith("/") ? pathname : `${pathname}/`;
  const op = openApi.paths[path]?.[m];
  if (!op) {
    // A documented path asked with an undocumented method answers 405 with the Failure shape.
    const documented = openApi.paths[path];
    if (documented && status === 405) assertDocumentedAnswer(Object.keys(documented)[0]!, url, 405, body);
    return;
  }
  const key = `${m} ${path} ${status}`;
  let validate = compiled.get(key);
  if (!validate) {
    if (!op.responses[String(status)]) throw new Error(`${key}: status ${status} is not documented in openapi.json`);
    const ref = `openapi#/${pointer("paths", path, m, "responses", String(status), "content", "application/json", "schema")}`;
    validate = ajv.compile({ $ref: ref });
    compiled.set(key, validate);
  }
  if (!validate(body)) {
    throw new Error(
      `${key}: answer does not match openapi.json: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`,
    );
  }
  validatedAnswers.add(key);
}
