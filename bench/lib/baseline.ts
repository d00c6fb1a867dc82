// `--baseline DIR`: dzug 1 + 1 once more, started from another checkout of the repo (e.g. `git archive`
// of the commit before a change, with a node_modules link), on the same etcd and database under its
// own discovery prefix. Run in the same rounds as the working tree's dzug-1+1, it measures a change
// before/after on one machine at one time (docs/profiling.md).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../tests/harness/ports.ts";
import type { DzugSystem, ProcessHandle } from "../../tests/harness/system.ts";
import type { BenchProcesses, PidGroups } from "./procs.ts";

const PREFIX = "/bench-baseline/services";

export async function startBaseline(
  system: DzugSystem,
  procs: BenchProcesses,
  /** `others`: the remaining services the gateway needs (started when the checkout has them, idle). */
  o: { checkout: string; secret: string; others: readonly string[] },
): Promise<{ url: string; pids: PidGroups }> {
  const common = { ...system.commonEnv(), DZUG_DISCOVERY_PREFIX: PREFIX };
  const service = async (name: string): Promise<ProcessHandle> => {
    const grpc = await freePort();
    const admin = await freePort();
    return procs.start(
      `baseline-${name}`,
      join(o.checkout, `services/${name}/main.ts`),
      {
        ...common,
        DZUG_GRPC_HOST: "127.0.0.1",
        DZUG_GRPC_PORT: String(grpc),
        DZUG_ADMIN_PORT: String(admin),
        DZUG_DISCOVERY_ADVERTISE_HOST: "127.0.0.1",
        DZUG_DATABASE_URL: system.databaseUrl,
        // Every service gets the secret: one that has no auth section only warns about the variable.
        DZUG_AUTH_JWT_SECRET: o.secret,
      },
      `http://127.0.0.1:${admin}/readyz`,
    );
  };
  const user = await service("user");
  const relation = await service("relation");
  for (const other of o.others) {
    if (existsSync(join(o.checkout, `services/${other}/main.ts`))) await service(other);
  }
  const port = await freePort();
  const admin = await freePort();
  const gateway = await procs.start(
    "baseline-gateway",
    join(o.checkout, "gateway/main.ts"),
    {
      ...common,
      DZUG_HTTP_HOST: "127.0.0.1",
      DZUG_HTTP_PORT: String(port),
      DZUG_ADMIN_PORT: String(admin),
      DZUG_AUTH_JWT_SECRET: o.secret,
    },
    // A gateway from before the admin port serves /readyz on its API port (and ignores DZUG_ADMIN_PORT).
    [`http://127.0.0.1:${admin}/readyz`, `http://127.0.0.1:${port}/readyz`],
  );
  return {
    url: `http://127.0.0.1:${port}`,
    pids: {
      gateway: () => [gateway.child.pid],
      user: () => [user.child.pid],
      relation: () => [relation.child.pid],
      etcd: () => [system.etcd.pid],
    },
  };
}
