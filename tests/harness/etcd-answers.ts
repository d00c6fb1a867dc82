// What etcd answers an account (or nobody) for a call, on a busy machine: a value or auth's refusal.
// Transport failures (deadline, unavailable: load, a member electing, a login slower than the client's
// bound) are retried with a fresh client until the deadline; they are never taken for an answer, so a
// "refused" assertion cannot pass because etcd was merely slow.
import assert from "node:assert/strict";
import type { Etcd3 } from "etcd3";
import {
  createEtcdClient,
  type EtcdAccess,
  etcdClientOptions,
} from "../../platform/discovery/registry/etcd-options.ts";
import { waitFor } from "./wait.ts";

/** What etcd answers a call its auth does not allow (3.4 and 3.5 alike). */
export const REFUSED = /permission denied|user name is empty/i;

export type Answer<T> = { value: T } | { refused: Error };

export class EtcdAnswers {
  readonly endpoints: string[];
  readonly #passwords: Record<string, string>;
  readonly #tls: EtcdAccess["tls"];

  /** `passwords`: account -> password (the processes' credentials); `tls.caFile` for https endpoints. */
  constructor(endpoints: string[], passwords: Record<string, string>, tls?: Partial<EtcdAccess["tls"]>) {
    this.endpoints = endpoints;
    this.#passwords = passwords;
    this.#tls = { caFile: "", certFile: "", keyFile: "", ...tls };
  }

  /** A client as `account` (undefined: no credentials), the way dzug processes build theirs. */
  client(account: string | undefined, endpoints = this.endpoints): Etcd3 {
    const tls = this.#tls;
    // Without an account: no credentials, but the same TLS trust (an anonymous client of an https etcd).
    const access = { username: account ?? "", password: account ? (this.#passwords[account] ?? "") : "", tls };
    return createEtcdClient(etcdClientOptions(endpoints, 2000, access));
  }

  answer<T>(account: string | undefined, op: (c: Etcd3) => Promise<T>, endpoints?: string[]): Promise<Answer<T>> {
    return waitFor<Answer<T>>(
      async () => {
        const c = this.client(account, endpoints);
        try {
          return { value: await op(c) };
        } catch (err) {
          if (REFUSED.test(String(err))) return { refused: err as Error };
          throw err;
        } finally {
          c.close();
        }
      },
      { timeoutMs: 30_000, intervalMs: 250, message: `etcd's answer to ${account ?? "anonymous"}` },
    );
  }

  /** The value of `op` as `account`; fails the test when auth refuses it. */
  async allowed<T>(account: string, op: (c: Etcd3) => Promise<T>, endpoints?: string[]): Promise<T> {
    const a = await this.answer(account, op, endpoints);
    if ("refused" in a) assert.fail(`${account} was refused: ${a.refused.message}`);
    return a.value;
  }

  /** Fails the test unless auth refuses `account` a put of `key` (a registration with a hijacker's weight). */
  async putRefused(account: string | undefined, key: string, endpoints?: string[]): Promise<void> {
    const a = await this.answer(account, (c) => c.put(key).value('{"weight":10000}').exec(), endpoints);
    assert.ok("refused" in a, `${account ?? "anonymous"} put ${key} was accepted`);
  }
}
