// Who may do what in etcd once client auth is on (docs/kubernetes.md, security model). One account per
// process kind: a gRPC service writes only its own registrations (`<prefix>/<service>/`) and reads every
// service's (services call each other); a reader (the gateway) only reads. `root` administers.
import { serviceDir } from "../discovery/registry/record.ts";

export const ROOT_USER = "root";

/** Read-only accounts (processes that watch the registry but never register): the gateway. */
export const READERS = ["gateway"] as const;

/** Every account's name, root first: the gRPC services (each registers itself) and the readers. The chart's
 * Secret keys are `passwordKey` of each (generated into charts/dzug/templates/_services.tpl). */
export function accountNames(services: readonly string[]): string[] {
  return [ROOT_USER, ...services, ...READERS];
}

export interface Account {
  name: string;
  /** A service registering under `<prefix>/<name>/`; false = read-only. */
  registers: boolean;
  password: string;
}

export interface Grant {
  permission: "Read" | "Write" | "Readwrite";
  /** Key prefix the permission covers. */
  prefix: string;
}

/** The role of an account (prefixed so it never collides with etcd's `root` role). */
export function roleOf(account: string): string {
  return `dzug-${account}`;
}

/** The grants of one account's role under the discovery prefix. */
export function grantsOf(account: Pick<Account, "name" | "registers">, prefix: string): Grant[] {
  const grants: Grant[] = [{ permission: "Read", prefix: `${prefix.replace(/\/+$/, "")}/` }];
  if (account.registers) grants.push({ permission: "Readwrite", prefix: serviceDir(prefix, account.name) });
  return grants;
}

/** The password file of an account in a mounted Secret (keys `<name>-password`). */
export function passwordKey(account: string): string {
  return `${account}-password`;
}
