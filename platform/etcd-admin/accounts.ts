// Who may do what in etcd once client auth is on (docs/kubernetes.md, security model). One account per
// process kind: a service writes only its own registrations (`<prefix>/<service>/`) and reads every
// service's (relation calls user); the gateway only reads. `root` administers (auth, members).
import { serviceDir } from "../discovery/record.ts";

export const ROOT_USER = "root";

/** Every etcd account but root, and whether it registers (writes) under its own service directory. */
export const ETCD_ACCOUNTS = {
  user: { registers: true },
  relation: { registers: true },
  gateway: { registers: false },
} as const;

export type AccountName = keyof typeof ETCD_ACCOUNTS;
export const ACCOUNT_NAMES = Object.keys(ETCD_ACCOUNTS) as AccountName[];

export interface Grant {
  permission: "Read" | "Write" | "Readwrite";
  /** Key prefix the permission covers. */
  prefix: string;
}

/** The role name of an account (the same as the user name, prefixed so it never collides with root). */
export function roleOf(account: AccountName): string {
  return `dzug-${account}`;
}

/** The grants of one account's role under the discovery prefix. */
export function grantsOf(account: AccountName, prefix: string): Grant[] {
  const all = `${prefix.replace(/\/+$/, "")}/`;
  const grants: Grant[] = [{ permission: "Read", prefix: all }];
  if (ETCD_ACCOUNTS[account].registers) grants.push({ permission: "Readwrite", prefix: serviceDir(prefix, account) });
  return grants;
}
