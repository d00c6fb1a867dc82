// A caller of dzug services as the gateway is one: a Discovery over a real etcd, with balanced clients
// that find instances by service name (no address given).
import { Etcd3 } from "etcd3";
import { pino } from "pino";
import { Registry } from "prom-client";
import { Discovery, etcdClientOptions } from "../../platform/discovery/index.ts";
import { defaultClientMiddleware } from "../../platform/runtime.ts";

export interface DiscoveryCaller {
  discovery: Discovery;
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
    close: async () => {
      await discovery.close();
      etcd.close();
    },
  };
}
