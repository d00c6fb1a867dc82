// A caller of dzug services as the gateway is one: a Discovery over a real etcd, with balanced clients
// that find instances by service name (no address given).
import { Etcd3 } from "etcd3";
import { pino } from "pino";
import { Registry } from "prom-client";
import { Discovery, etcdClientOptions } from "../../platform/discovery/index.ts";
import { defaultClientMiddleware } from "../../platform/runtime.ts";
import { waitFor } from "./wait.ts";

export interface DiscoveryCaller {
  discovery: Discovery;
  /** Waits until discovery lists exactly `count` instances of every service given (each one the test calls). */
  listed(counts: Record<string, number>): Promise<void>;
  close(): Promise<void>;
}

export function discoveryCaller(endpoint: string, prefix = "/dzug/services"): DiscoveryCaller {
  const etcd = new Etcd3(etcdClientOptions(endpoint, 2_000));
  const discovery = new Discovery({
    etcd,
    prefix,
    logger: pino({ level: "warn" }),
    metrics: new Registry(),
    // What the gateway's clients carry: rich error details (reasons), request ids.
    defaults: { middleware: defaultClientMiddleware(false) },
  });
  return {
    discovery,
    listed: async (want) => {
      await waitFor(() => Object.entries(want).every(([s, n]) => discovery.watch(s).instances().length === n), {
        message: `discovery listing ${JSON.stringify(want)} instances`,
        describe: () => `it lists ${JSON.stringify(counts(discovery))}`,
      });
    },
    close: async () => {
      await discovery.close();
      etcd.close();
    },
  };
}

/** Instances listed per watched service. */
function counts(discovery: Discovery): Record<string, number> {
  return Object.fromEntries(discovery.snapshot().map((p) => [p.service, p.instances.length]));
}
