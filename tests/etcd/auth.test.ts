// etcd client auth as the chart sets it up (platform/etcd-admin, `main.ts auth`) against a real etcd
// started through member-init: nobody without credentials, and no service with another's, can put a
// registration under a service's prefix; every process works with its own account.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Etcd3 } from "etcd3";
import { accountPassword, EtcdCluster } from "../harness/etcd-cluster.ts";
import { call, DzugSystem } from "../harness/system.ts";

const PREFIX = "/dzug/services";

describe("etcd client auth (closed by default)", () => {
  let cluster: EtcdCluster;

  before(async () => {
    cluster = await EtcdCluster.start(1, { auth: true });
  });
  after(async () => {
    await cluster?.destroy();
  });

  function clientAs(account?: string): Etcd3 {
    return new Etcd3({
      hosts: cluster.endpoints,
      dialTimeout: 2000,
      ...(account ? { auth: { username: account, password: accountPassword(account) } } : {}),
    });
  }

  async function putRefused(account: string | undefined, key: string): Promise<void> {
    const c = clientAs(account);
    try {
      await assert.rejects(
        c.put(key).value('{"weight":10000}').exec(),
        `${account ?? "anonymous"} put ${key} was accepted`,
      );
    } finally {
      c.close();
    }
  }

  test("without credentials, nothing under the prefix can be written or read", async () => {
    await putRefused(undefined, `${PREFIX}/user/hijack`);
    const c = clientAs();
    try {
      await assert.rejects(c.getAll().prefix(`${PREFIX}/`).keys());
    } finally {
      c.close();
    }
  });

  test("a wrong password is refused", async () => {
    const c = new Etcd3({ hosts: cluster.endpoints, auth: { username: "user", password: "not-the-password-123" } });
    try {
      await assert.rejects(c.put(`${PREFIX}/user/x`).value("{}").exec());
    } finally {
      c.close();
    }
  });

  test("a service cannot write under another service's prefix; the gateway cannot write at all", async () => {
    await putRefused("relation", `${PREFIX}/user/hijack`);
    await putRefused("user", `${PREFIX}/relation/hijack`);
    await putRefused("gateway", `${PREFIX}/user/hijack`);
    await putRefused("gateway", `${PREFIX}/gateway/x`);
    await putRefused("user", `${PREFIX}/userx/hijack`); // a sibling prefix is not its own
    await putRefused("user", "/elsewhere/key");
  });

  test("each service writes its own registrations; everyone reads the prefix", async () => {
    for (const svc of ["user", "relation"] as const) {
      const c = clientAs(svc);
      try {
        const lease = c.lease(10);
        await lease.put(`${PREFIX}/${svc}/probe`).value("{}");
        await lease.revoke();
      } finally {
        c.close();
      }
    }
    const g = clientAs("gateway");
    try {
      await g.getAll().prefix(`${PREFIX}/`).keys();
    } finally {
      g.close();
    }
  });

  test("the services and the gateway work with their accounts (register, login, follow)", async () => {
    const system = await DzugSystem.start({ users: 1, relations: 1, etcd: cluster });
    try {
      const name = `auth${Date.now()}`;
      const reg = await call(system.url, "POST", "/douyin/user/register/", { username: name, password: "auth-pass-1" });
      assert.equal(reg.body.status_code, 0, JSON.stringify(reg.body));
      const other = await call(system.url, "POST", "/douyin/user/register/", {
        username: `${name}b`,
        password: "auth-pass-1",
      });
      const follow = await call(system.url, "POST", "/douyin/relation/action/", {
        token: reg.body.token,
        to_user_id: other.body.user_id,
        action_type: 1,
      });
      assert.equal(follow.body.status_code, 0, JSON.stringify(follow.body));
    } finally {
      await system.destroy();
    }
  });
});
