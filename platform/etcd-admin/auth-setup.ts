// Turns etcd client auth on, idempotently: root (with the root role), one role + user per account
// (accounts.ts grants), passwords as given, then AuthEnable. Safe to run from several places at
// once and again at any time (a wiped cluster comes back with auth off; the next run closes it again).
import { type Etcd3, EtcdRoleExistsError, EtcdUserExistsError, Range } from "etcd3";
import { type Account, grantsOf, ROOT_USER, roleOf } from "./accounts.ts";

export interface AuthSetup {
  prefix: string;
  rootPassword: string;
  accounts: Account[];
}

async function ensureUser(client: Etcd3, name: string, password: string): Promise<void> {
  try {
    await client.user(name).create(password);
  } catch (err) {
    if (!(err instanceof EtcdUserExistsError)) throw err;
    await client.user(name).setPassword(password);
  }
}

async function ensureRole(client: Etcd3, name: string): Promise<void> {
  try {
    await client.role(name).create();
  } catch (err) {
    if (!(err instanceof EtcdRoleExistsError)) throw err;
  }
}

/** Creates or updates every account (as root once auth is on, or unauthenticated while it is off). */
export async function ensureAccounts(client: Etcd3, setup: AuthSetup): Promise<void> {
  await ensureUser(client, ROOT_USER, setup.rootPassword);
  await ensureRole(client, ROOT_USER);
  await client.user(ROOT_USER).addRole(ROOT_USER);
  for (const account of setup.accounts) {
    const role = roleOf(account.name);
    await ensureRole(client, role);
    const grants = grantsOf(account, setup.prefix);
    await client.role(role).grant(grants.map((g) => ({ permission: g.permission, range: Range.prefix(g.prefix) })));
    await ensureUser(client, account.name, account.password);
    await client.user(account.name).addRole(role);
  }
}

/** Accounts first, then AuthEnable (etcd refuses it until root has the root role). */
export async function enableAuth(client: Etcd3, setup: AuthSetup): Promise<void> {
  await ensureAccounts(client, setup);
  await client.auth.authEnable();
}
