// The container image end to end: builds it with scripts/image (local base image + buildah), then runs
// the user service, the relation service and the gateway FROM THE IMAGE (buildah run, chroot isolation,
// host network) against a real etcd, and drives the douyin HTTP API through them. Also checks the image
// runs as non-root uid 10001 and that each process exits 0 on SIGTERM.
// Skips only when buildah is not installed. DZUG_IMAGE_TEST_IMAGE picks the tag to build and run.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { type LocalService, localServices } from "../../scripts/lib/services.ts";
import { EtcdProcess } from "../harness/etcd.ts";
import { freePort } from "../harness/ports.ts";
import { waitFor } from "../harness/wait.ts";
import {
  buildImage,
  type ContainerProcess,
  hasBuildah,
  imageConfig,
  removeStaleContainers,
  WorkingContainer,
} from "./container.ts";

const IMAGE = process.env.DZUG_IMAGE_TEST_IMAGE ?? "localhost/dzug:dev";
const JWT_SECRET = `image-test-${randomBytes(24).toString("hex")}`;
const RUN_ID = `${process.pid}-${randomBytes(3).toString("hex")}`;
const skip = hasBuildah()
  ? false
  : "buildah is not installed (Debian: apt-get install -y buildah): the image test builds and runs the image with it";

interface Running {
  proc: ContainerProcess;
  name: string;
}

// Every service of the repo (as `npm run up` finds them) and the gateway.
const services = await localServices();

describe("container image", { skip }, () => {
  let etcd: EtcdProcess | undefined;
  const containers: WorkingContainer[] = [];
  const running: Record<string, Running | undefined> = {};
  let gatewayUrl = "";

  const allLogs = () =>
    Object.values(running)
      .filter((r): r is Running => r !== undefined)
      .map((r) => `--- ${r.name} ---\n${r.proc.logs().slice(-6_000)}`)
      .join("\n");

  /** Runs `fn`; on failure, the processes' logs are appended to the error. */
  async function withLogs<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof Error) err.message += `\n${allLogs()}`;
      throw err;
    }
  }

  async function container(role: string): Promise<WorkingContainer> {
    const c = await WorkingContainer.create(IMAGE, `dzug-image-test-${role}-${RUN_ID}`);
    containers.push(c);
    return c;
  }

  before(
    async () => {
      await removeStaleContainers();
      const started = Date.now();
      await buildImage(IMAGE);
      process.stderr.write(
        `# image ${IMAGE} built (or up to date) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
      );
      etcd = await EtcdProcess.start();
    },
    { timeout: 25 * 60_000 },
  );

  after(async () => {
    await Promise.all(containers.map((c) => c.remove()));
    await etcd?.destroy();
  });

  test("image config: uid 10001, exec-form node entrypoint, gateway by default, ports, production, OCI labels", async () => {
    const cfg = await imageConfig(IMAGE);
    assert.equal(cfg.User, "10001:10001");
    assert.deepEqual(cfg.Entrypoint, ["node"]);
    assert.deepEqual(cfg.Cmd, ["gateway/main.ts"]);
    assert.equal(cfg.WorkingDir, "/app");
    assert.ok(cfg.Env?.includes("NODE_ENV=production"), `Env: ${cfg.Env}`);
    assert.deepEqual(Object.keys(cfg.ExposedPorts ?? {}).sort(), ["50051/tcp", "8080/tcp", "9464/tcp"]);
    assert.equal(cfg.Labels?.["org.opencontainers.image.title"], "dzug");
    assert.match(cfg.Labels?.["org.opencontainers.image.version"] ?? "", /^\d+\.\d+\.\d+/);
  });

  test("inside: non-root, Node 24, code read-only, /app/.data and /tmp writable, production deps only", async () => {
    const c = await container("probe");
    const script = `
      const fs = require("node:fs");
      const w = (p) => { try { fs.accessSync(p, fs.constants.W_OK); return true; } catch { return false; } };
      const has = (m) => { try { require.resolve(m, { paths: ["/app"] }); return true; } catch { return false; } };
      console.log(JSON.stringify({
        uid: process.getuid(), gid: process.getgid(), node: process.versions.node, cwd: process.cwd(),
        env: process.env.NODE_ENV, appWritable: w("/app"), gatewayWritable: w("/app/gateway"),
        dataWritable: w("/app/.data"), tmpWritable: w("/tmp"),
        express: has("express"), typescript: has("typescript"), biome: has("@biomejs/biome"),
      }));`;
    const { code, out } = await c.output(["node", "-e", script]);
    assert.equal(code, 0, out);
    const line = out.split("\n").find((l) => l.startsWith("{"));
    assert.ok(line, out);
    const got = JSON.parse(line);
    assert.deepEqual(got, {
      uid: 10001,
      gid: 10001,
      node: got.node,
      cwd: "/app",
      env: "production",
      appWritable: false,
      gatewayWritable: false,
      dataWritable: true,
      tmpWritable: true,
      express: true,
      typescript: false,
      biome: false,
    });
    assert.match(got.node, /^24\./);
  });

  test("every runtime module loads in the image with production dependencies only", async () => {
    const c = await container("modules");
    // main.ts files would start processes; everything else only defines things.
    const script = `
      import { globSync } from "node:fs";
      const files = globSync("{platform,services,gateway,proto/gen}/**/*.ts", { cwd: "/app" })
        .filter((f) => !f.endsWith("/main.ts") && !f.endsWith(".test.ts"));
      const failed = [];
      for (const f of files) {
        try { await import("/app/" + f); } catch (err) { failed.push(f + ": " + String(err?.message ?? err).split("\\n")[0]); }
      }
      console.log(JSON.stringify({ loaded: files.length - failed.length, failed }));
      process.exit(0);`;
    const { code, out } = await c.output(["node", "--input-type=module", "-e", script]);
    assert.equal(code, 0, out);
    const line = out.split("\n").find((l) => l.startsWith('{"loaded"'));
    assert.ok(line, out);
    const got = JSON.parse(line) as { loaded: number; failed: string[] };
    assert.deepEqual(got.failed, []);
    assert.ok(got.loaded >= 10, `only ${got.loaded} modules found under /app`);
  });

  test("every service and the gateway run from the image and serve the douyin API through etcd", {
    timeout: 180_000,
  }, async () => {
    assert.ok(etcd);
    const common = {
      DZUG_ETCD_ENDPOINTS: etcd.endpoint,
      DZUG_DISCOVERY_PREFIX: `/dzug-image-test-${RUN_ID}/services`,
      DZUG_LOG_LEVEL: "info",
    };
    const service = async ({ name, takesAuth }: LocalService) => {
      const grpc = await freePort();
      const admin = await freePort();
      const c = await container(name);
      const env: Record<string, string> = {
        ...common,
        DZUG_GRPC_HOST: "127.0.0.1",
        DZUG_GRPC_PORT: String(grpc),
        DZUG_ADMIN_PORT: String(admin),
        DZUG_DISCOVERY_ADVERTISE_HOST: "127.0.0.1",
        // /app is not writable in the real deployment: the database goes to a writable path.
        DZUG_DATABASE_URL: "sqlite:/tmp/dzug.db",
      };
      if (takesAuth) env.DZUG_AUTH_JWT_SECRET = JWT_SECRET;
      running[name] = { name, proc: c.exec(["node", `services/${name}/main.ts`], env) };
      return { name, admin };
    };
    const httpPort = await freePort();
    const gatewayAdmin = await freePort();
    gatewayUrl = `http://127.0.0.1:${httpPort}`;

    await withLogs(async () => {
      const admins = await Promise.all(services.map(service));
      const gw = await container("gateway");
      running.gateway = {
        name: "gateway",
        proc: gw.exec(["node", "gateway/main.ts"], {
          ...common,
          DZUG_HTTP_HOST: "127.0.0.1",
          DZUG_HTTP_PORT: String(httpPort),
          DZUG_ADMIN_PORT: String(gatewayAdmin),
          DZUG_AUTH_JWT_SECRET: JWT_SECRET,
        }),
      };

      // Ready when /readyz answers 200; fails at once if the process exits first.
      const ready = (url: string, who: Running | undefined) => {
        assert.ok(who);
        return Promise.race([
          waitFor(async () => (await fetch(url)).status === 200, {
            timeoutMs: 90_000,
            intervalMs: 200,
            message: `${who.name} ${url}`,
          }),
          who.proc.exited.then((code) => {
            throw new Error(`${who.name} exited (${code}) before it was ready`);
          }),
        ]);
      };
      await Promise.all([
        ...admins.map(({ name, admin }) => ready(`http://127.0.0.1:${admin}/readyz`, running[name])),
        ready(`http://127.0.0.1:${gatewayAdmin}/readyz`, running.gateway),
      ]);

      const api = async (method: "GET" | "POST", path: string, params: Record<string, string | number>) => {
        const qs = new URLSearchParams(Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])));
        const res = await fetch(`${gatewayUrl}${path}?${qs}`, { method });
        const body = (await res.json()) as Record<string, unknown> & { status_code: number };
        assert.equal(body.status_code, 0, `${method} ${path}: HTTP ${res.status} ${JSON.stringify(body)}`);
        assert.equal(res.status, 200);
        return body;
      };
      const register = async (who: string) => {
        const r = await api("POST", "/douyin/user/register/", {
          username: `${who}-${RUN_ID}`,
          password: "correct horse battery",
        });
        assert.ok(Number(r.user_id) > 0, JSON.stringify(r));
        assert.equal(typeof r.token, "string");
        return { id: Number(r.user_id), token: r.token as string };
      };
      const alice = await register("alice");
      const bob = await register("bob");

      const me = await api("GET", "/douyin/user/", { user_id: alice.id, token: alice.token });
      const meUser = me.user as { id: number | string; name: string };
      assert.equal(Number(meUser.id), alice.id);
      assert.equal(meUser.name, `alice-${RUN_ID}`);

      await api("POST", "/douyin/relation/action/", { token: alice.token, to_user_id: bob.id, action_type: 1 });
      const following = await api("GET", "/douyin/relation/follow/list/", { user_id: alice.id, token: alice.token });
      assert.deepEqual(
        (following.user_list as Array<{ id: number | string }>).map((u) => Number(u.id)),
        [bob.id],
      );
      const followers = await api("GET", "/douyin/relation/follower/list/", { user_id: bob.id, token: bob.token });
      assert.deepEqual(
        (followers.user_list as Array<{ id: number | string }>).map((u) => Number(u.id)),
        [alice.id],
      );
      const bobSeen = await api("GET", "/douyin/user/", { user_id: bob.id, token: alice.token });
      const b = bobSeen.user as { follower_count: number | string; is_follow: boolean };
      assert.equal(Number(b.follower_count), 1);
      assert.equal(b.is_follow, true);
    });
  });

  test("every process exits 0 on SIGTERM (node is the process; exec-form entrypoint)", {
    timeout: 120_000,
  }, async () => {
    // Gateway first, like a rollout would; every process is stopped even if one fails.
    const codes: Record<string, number | null | string> = {};
    for (const name of ["gateway", ...services.map((x) => x.name)]) {
      const r = running[name];
      if (!r?.proc.running) {
        codes[name] = "not running (see the previous test)";
        continue;
      }
      const started = Date.now();
      codes[name] = await r.proc.signal("SIGTERM", 60_000);
      process.stderr.write(`# ${name}: exit ${codes[name]} ${Date.now() - started} ms after SIGTERM\n`);
    }
    const failed = Object.entries(codes).filter(([, c]) => c !== 0);
    assert.deepEqual(
      codes,
      Object.fromEntries(["gateway", ...services.map((x) => x.name)].map((n) => [n, 0])),
      failed.map(([n]) => `--- ${n} ---\n${running[n]?.proc.logs().slice(-4_000)}`).join("\n"),
    );
    for (const r of Object.values(running)) {
      if (r) assert.doesNotMatch(r.proc.logs(), /ExperimentalWarning/, `${r.name} printed an ExperimentalWarning`);
    }
  });
});
