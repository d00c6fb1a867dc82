// Ongoing etcd administration: keep client auth on (re-applied within one interval after a cluster
// comes back empty) and remove members a scale-down left behind.
import type { EtcdConfig } from "../config-schema.ts";
import type { Logger } from "../logger.ts";
import { adminClient } from "./admin-client.ts";
import { type AuthSetup, enableAuth, ensureAccounts } from "./auth-setup.ts";
import { AuthStatus } from "./auth-status.ts";
import { type SeedMember, surplusMembers } from "./member-plan.ts";

/** One pass: auth off -> accounts + AuthEnable; `full` also re-applies accounts when auth is already on. */
export async function ensureAuth(etcd: EtcdConfig, setup: AuthSetup, full: boolean, logger: Logger): Promise<boolean> {
  const admin = await adminClient(etcd);
  try {
    if (!admin.authenticated) {
      await enableAuth(admin.client, setup);
      logger.info("etcd client auth enabled (root, roles and users created)");
      return true;
    }
    if (full) {
      await ensureAccounts(admin.client, setup);
      logger.info("etcd accounts up to date");
    }
    return false;
  } finally {
    admin.client.close();
  }
}

/** Runs ensureAuth now (full) and then every `intervalMs` until `signal` aborts; errors are logged (and make
 * `status` not ready with the reason), never fatal. */
export async function keepAuth(
  etcd: EtcdConfig,
  setup: AuthSetup,
  intervalMs: number,
  logger: Logger,
  signal: AbortSignal,
  status: AuthStatus = new AuthStatus(),
  /** Called after each pass that saw auth on (the keeper writes the cluster marker). */
  onAuthOn?: () => void,
): Promise<void> {
  let full = true;
  while (!signal.aborted) {
    try {
      await ensureAuth(etcd, setup, full, logger);
      full = false;
      status.on();
      onAuthOn?.();
    } catch (err) {
      status.off(`etcd client auth is not confirmed on: ${(err as Error)?.message ?? err}`);
      logger.warn({ err }, "etcd auth check failed; retrying");
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, intervalMs);
      signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

/** Removes every member not among `seeds` (by peer URL); returns the names/ids removed. */
export async function pruneMembers(etcd: EtcdConfig, seeds: SeedMember[], logger: Logger): Promise<string[]> {
  const admin = await adminClient(etcd);
  try {
    const list = await admin.client.cluster.memberList({});
    const surplus = surplusMembers(
      seeds,
      list.members.map((m) => ({ id: m.ID, name: m.name, peerURLs: m.peerURLs, clientURLs: m.clientURLs })),
    );
    const removed: string[] = [];
    for (const m of surplus) {
      await admin.client.cluster.memberRemove({ ID: m.id });
      logger.info({ member: m.name, id: m.id }, "removed etcd member beyond the desired count");
      removed.push(m.name || m.id);
    }
    return removed;
  } finally {
    admin.client.close();
  }
}
