// The services of this repository, found rather than listed: every folder under services/ with a
// main.ts is one, so a service added there (by hand or by `npm run new:service`) is started by
// `npm run up` without editing a list.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";

const SERVICES = join(import.meta.dirname, "..", "..", "services");

export interface LocalService {
  name: string;
  /** Its configuration schema has an `auth` section (it issues or verifies tokens: needs the JWT secret). */
  takesAuth: boolean;
}

export async function localServices(): Promise<LocalService[]> {
  const names = readdirSync(SERVICES)
    .filter((n) => existsSync(join(SERVICES, n, "main.ts")))
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const mod = (await import(join(SERVICES, name, "config.ts"))) as Record<string, unknown>;
      const schema = Object.values(mod).find((v): v is z.ZodObject => v instanceof z.ZodObject && "grpc" in v.shape);
      if (!schema) throw new Error(`services/${name}/config.ts exports no service config schema`);
      return { name, takesAuth: "auth" in schema.shape };
    }),
  );
}
