// member-init (platform/etcd-admin) never bootstraps a new cluster beside one that has a leader. When a
// member reports a leader but root cannot administer through it (here: a wrong root password; on a busy
// machine: root's login outlasting its bound), the member retries and finally fails, leaving no config
// file: a member whose volume was lost must not start with initial-cluster-state=new, crash-loop on
// "member already bootstrapped", and never heal (its init container does not run again).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { EtcdCluster, runNode } from "../harness/etcd-cluster.ts";
import { freePort } from "../harness/ports.ts";

describe("etcd member-init beside a cluster with a leader", () => {
  let cluster: EtcdCluster;
  let dir = "";

  before(async () => {
    cluster = await EtcdCluster.start(1, { auth: true });
    dir = mkdtempSync(join(tmpdir(), "dzug-member-init-"));
  });
  after(async () => {
    await cluster?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("root cannot administer it: member-init retries, then fails without writing a config", async () => {
    const existing = cluster.members[0];
    assert.ok(existing);
    const self = {
      name: "etcd-1",
      client: `http://127.0.0.1:${await freePort()}`,
      peer: `http://127.0.0.1:${await freePort()}`,
    };
    const configFile = join(dir, "etcd.yaml");
    await assert.rejects(
      runNode(["platform/etcd-admin/main.ts", "member-init"], {
        ...cluster.rootEnv(),
        DZUG_ETCD_PASSWORD: "not-the-root-password-123",
        // The chart's default: Status must answer within it on a busy machine, or the member counts as absent.
        DZUG_ETCD_DIAL_TIMEOUT_MS: "3000",
        DZUG_CLUSTER_MEMBERS: `${existing.name}=http://127.0.0.1:${existing.peerPort},${self.name}=${self.peer}`,
        DZUG_CLUSTER_CLIENT_URLS: `${cluster.endpoints[0]},${self.client}`,
        DZUG_MEMBER_NAME: self.name,
        DZUG_MEMBER_DATA_DIR: join(dir, "data"),
        DZUG_MEMBER_CONFIG_FILE: configFile,
        DZUG_MEMBER_LISTEN_CLIENT_URLS: self.client,
        DZUG_MEMBER_LISTEN_PEER_URLS: self.peer,
        DZUG_MEMBER_DEADLINE_MS: "5000",
      }),
      /reports a leader but cannot be administered/,
    );
    assert.equal(existsSync(configFile), false, "member-init wrote a config (a new cluster?) beside a live one");
  });
});
