// `npm run chart:services`: writes charts/dzug/templates/_services.tpl from services/*/main.ts
// (scripts/lib/chart-services.ts). `--check`: exits 1 when the committed file differs (npm test runs it).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SERVICES_TPL, serviceCalls, servicesTpl } from "./lib/chart-services.ts";

const root = join(import.meta.dirname, "..");
const path = join(root, SERVICES_TPL);
const text = servicesTpl(serviceCalls(root));
if (process.argv.includes("--check")) {
  if (readFileSync(path, "utf8") !== text) {
    console.error(`${SERVICES_TPL} is stale: run npm run chart:services`);
    process.exit(1);
  }
} else {
  writeFileSync(path, text);
  console.log(`wrote ${SERVICES_TPL}`);
}
