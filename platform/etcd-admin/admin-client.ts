// An etcd client for administration (auth set-up, membership), as root when auth is on. A fresh or
// wiped cluster has auth off, and etcd then refuses to authenticate anyone: `adminClient` tries root
// first and falls back to no credentials only on that exact refusal.
import type { Etcd3 } from "etcd3";
import type { EtcdConfig } from "../config-schema.ts";
import { createEtcdClient, etcdClientOptions } from "../discovery/registry/etcd-options.ts";

export function isAuthNotEnabled(err: unknown): boolean {
  return /authentication is not enabled/i.test(String((err as Error)?.message ?? err));
}

export interface AdminClient {
  readonly client: Etcd3;
  /** Whether etcd accepted root's credentials (auth on) or the client runs without (auth off). */
  readonly authenticated: boolean;
}

/** Connects to `endpoints` and proves the connection with a Status call (bounded by the dial timeout). */
export async function adminClient(etcd: EtcdConfig, endpoints: string[] = etcd.endpoints): Promise<AdminClient> {
  const timeout = etcd.dialTimeoutMs;
  // Every unary call bounded: administration must move on to the next member, never hang on one.
  const bounded = (opts: ReturnType<typeof etcdClientOptions>) => ({
    ...opts,
    defaultCallOptions: (ctx: { isStream: boolean }) => (ctx.isStream ? {} : { deadline: Date.now() + 2 * timeout }),
  });
  if (etcd.username) {
    const client = createEtcdClient(bounded(etcdClientOptions(endpoints, timeout, etcd)));
    try {
      await client.maintenance.status({ deadline: Date.now() + timeout });
      return { client, authenticated: true };
    } catch (err) {
      client.close();
      if (!isAuthNotEnabled(err)) throw err;
    }
  }
  const client = createEtcdClient(
    bounded(etcdClientOptions(endpoints, timeout, { ...etcd, username: "", password: "" })),
  );
  try {
    await client.maintenance.status({ deadline: Date.now() + timeout });
  } catch (err) {
    client.close();
    throw err;
  }
  return { client, authenticated: false };
}
