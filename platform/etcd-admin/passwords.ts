// The account passwords from the mounted etcd Secret (one file per key, `<account>-password`), checked all at
// once: a Secret missing keys or holding short ones fails with every such key named, so an operator who brought
// their own Secret (etcd.auth.existingSecret) learns what to add from one error instead of one per restart.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../config.ts";
import { type Account, accountNames, passwordKey, ROOT_USER } from "./accounts.ts";

export const MIN_PASSWORD_LENGTH = 16;

export interface AccountsConfig {
  services: string[];
  readers: string[];
  passwordsDir: string;
}

/** Every account's password by name (root included), or a ConfigError naming each missing or short key. */
export function readPasswords(accounts: AccountsConfig): Map<string, string> {
  const names = [...new Set([ROOT_USER, ...accounts.services, ...accounts.readers])];
  const passwords = new Map<string, string>();
  const missing: string[] = [];
  const short: string[] = [];
  for (const name of names) {
    let text: string;
    try {
      text = readFileSync(join(accounts.passwordsDir, passwordKey(name)), "utf8").trim();
    } catch {
      missing.push(passwordKey(name));
      continue;
    }
    if (text.length < MIN_PASSWORD_LENGTH) short.push(passwordKey(name));
    else passwords.set(name, text);
  }
  const problems = [
    ...(missing.length > 0 ? [`lacks key(s) ${missing.join(", ")}`] : []),
    ...(short.length > 0 ? [`key(s) ${short.join(", ")} hold fewer than ${MIN_PASSWORD_LENGTH} characters`] : []),
  ];
  if (problems.length > 0) {
    const expected = [...new Set(accountNames(accounts.services).concat(accounts.readers))].map(passwordKey);
    throw new ConfigError(
      `the etcd Secret mounted at ${accounts.passwordsDir} ${problems.join("; ")} (it needs ${expected.join(", ")}: ` +
        "one password per etcd account; etcd stays closed until it has them)",
    );
  }
  return passwords;
}

/** The accounts auth sets up, with their passwords (readPasswords' checks included). */
export function accountsWithPasswords(accounts: AccountsConfig): Account[] {
  const passwords = readPasswords(accounts);
  const password = (name: string) => passwords.get(name) as string;
  return [
    ...accounts.services.map((name) => ({ name, registers: true, password: password(name) })),
    ...accounts.readers.map((name) => ({ name, registers: false, password: password(name) })),
  ];
}
