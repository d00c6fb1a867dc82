// Writes docs/api/openapi.json from the gateway's route table and zod schemas, or with --check fails
// when the committed file differs from what the gateway serves at /openapi.json.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openApiDocument } from "../gateway/openapi.ts";

export const OPENAPI_FILE = join(import.meta.dirname, "..", "docs", "api", "openapi.json");

const fresh = `${JSON.stringify(openApiDocument(), null, 2)}\n`;
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(OPENAPI_FILE, "utf8");
  } catch {}
  if (current !== fresh) {
    console.error("docs/api/openapi.json is stale (run `npm run openapi`)");
    process.exit(1);
  }
  console.log("docs/api/openapi.json is up to date");
} else {
  writeFileSync(OPENAPI_FILE, fresh);
  console.log("wrote docs/api/openapi.json");
}
