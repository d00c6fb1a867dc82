// charts/dzug: lint, render with every values variant, validate each object against the Kubernetes
// (and Prometheus Operator / Gateway API) schemas, and check what the chart promises.
// One `helm lint` and one `helm template` per values file, all run concurrently.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { callsOf, SERVICES_TPL, serviceCalls, servicesTpl } from "../../scripts/lib/chart-services.ts";
import { localServices } from "../../scripts/lib/services.ts";
import { CONTAINER_NODE_OPTIONS } from "../harness/big-list.ts";
import {
  apiVersionArgs,
  CHART,
  documentedEnvNames,
  find,
  helm,
  type K8sObject,
  NAMESPACE,
  notesFor,
  podSpecOf,
  REPO_ROOT,
  render,
  validateObject,
  valuesCases,
} from "./helpers.ts";

const cases = valuesCases();
const rendered = new Map<string, K8sObject[]>();
const ARCH = readFileSync(join(REPO_ROOT, "docs", "architecture.md"), "utf8");
const SERVICES = await localServices();
const SERVICE_NAMES = SERVICES.map((s) => s.name);
const WORKLOADS = [...SERVICE_NAMES, "gateway"];

before(async () => {
  // As on a cluster with the Prometheus Operator and Gateway API CRDs: the `auto` kinds render.
  await Promise.all(cases.map(async (c) => rendered.set(c.name, await render([...c.args, ...apiVersionArgs()]))));
});

function objects(name: string): K8sObject[] {
  const o = rendered.get(name);
  assert.ok(o, `${name} was not rendered`);
  return o;
}

function envOf(container: any): Map<string, any> {
  return new Map((container.env ?? []).map((e: any) => [e.name, e]));
}

describe("helm lint --strict", () => {
  test("passes with the default values and every ci/*-values.yaml", async () => {
    const results = await Promise.all(cases.map((c) => helm(["lint", "--strict", CHART, ...c.args])));
    results.forEach((r, i) => {
      assert.equal(r.code, 0, `lint with ${cases[i]?.name}:\n${r.stdout}\n${r.stderr}`);
    });
  });
});

describe("rendered objects", () => {
  test("every object validates against its schema", async () => {
    const problems: string[] = [];
    for (const c of cases) {
      for (const obj of objects(c.name)) problems.push(...(await validateObject(obj)).map((p) => `[${c.name}] ${p}`));
    }
    assert.deepEqual(problems, []);
  });

  test("the everything-on variant renders each optional kind", () => {
    const kinds = new Set(objects("full-values.yaml").map((o) => o.kind));
    for (const k of [
      "Ingress",
      "HTTPRoute",
      "ServiceMonitor",
      "PodMonitor",
      "PrometheusRule",
      "NetworkPolicy",
      "HorizontalPodAutoscaler",
    ]) {
      assert.ok(kinds.has(k), `full-values.yaml renders no ${k}`);
    }
    const ing = find(objects("full-values.yaml"), "Ingress", "dzug-gateway");
    assert.equal(ing.spec.tls[0].secretName, "dzug-tls");
    assert.equal(ing.spec.rules[0].host, "dzug.example.com");
    const route = find(objects("full-values.yaml"), "HTTPRoute", "dzug-gateway");
    assert.equal(route.spec.rules[0].backendRefs[0].name, "dzug-gateway");
    for (const m of objects("full-values.yaml").filter((o) => o.kind === "ServiceMonitor" || o.kind === "PodMonitor")) {
      assert.equal(m.metadata.labels?.release, "kube-prometheus-stack");
      const eps = m.spec.endpoints ?? m.spec.podMetricsEndpoints;
      for (const ep of eps) {
        // Prometheus' target labels win; dzug's metrics use none of their names (the called instance is
        // `upstream`), and the ServiceMonitor drops the Operator's `service` target label for dzug's own.
        assert.equal(ep.honorLabels, false, `${m.kind} ${m.metadata.name}: honorLabels`);
        if (m.kind === "ServiceMonitor")
          assert.deepEqual(ep.relabelings, [{ action: "labeldrop", regex: "service" }], `${m.metadata.name}`);
      }
      // Every target, the gateway's included, is scraped on its "metrics" (admin) port, never the API port.
      assert.deepEqual(
        eps.map((ep: any) => [ep.port, ep.path]),
        [["metrics", "/metrics"]],
        `${m.kind} ${m.metadata.name}`,
      );
    }
  });

  test("Ingress and HTTPRoute route the API only (/douyin/..., /openapi.json) to the gateway's API port", () => {
    const objs = objects("full-values.yaml");
    const ing = find(objs, "Ingress", "dzug-gateway");
    const paths = ing.spec.rules.flatMap((r: any) => r.http.paths);
    assert.deepEqual(
      paths.map((p: any) => [p.path, p.pathType, p.backend.service.name, p.backend.service.port.name]),
      [
        ["/douyin", "Prefix", "dzug-gateway", "http"],
        ["/openapi.json", "Exact", "dzug-gateway", "http"],
      ],
    );
    const route = find(objs, "HTTPRoute", "dzug-gateway");
    assert.deepEqual(
      route.spec.rules.flatMap((r: any) => r.matches.map((m: any) => [m.path.type, m.path.value])),
      [
        ["PathPrefix", "/douyin"],
        ["Exact", "/openapi.json"],
      ],
    );
    const svc = find(objs, "Service", "dzug-gateway");
    const http = svc.spec.ports.find((p: any) => p.name === "http");
    for (const r of route.spec.rules)
      assert.deepEqual(
        r.backendRefs.map((b: any) => b.port),
        [http.port],
      );
    assert.deepEqual(
      svc.spec.ports.map((p: any) => [p.name, p.targetPort]),
      [
        ["http", "http"],
        ["metrics", "metrics"],
      ],
    );
  });

  test("names are unique per kind", () => {
    for (const c of cases) {
      const seen = new Set<string>();
      for (const o of objects(c.name)) {
        const key = `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
        assert.ok(!seen.has(key), `[${c.name}] duplicate ${key}`);
        seen.add(key);
      }
    }
  });
});

describe("etcd", () => {
  test("StatefulSet: replicas, Parallel, initial cluster from the replica count, probes on the metrics listener", () => {
    for (const [name, replicas] of [
      ["default", 3],
      ["minimal-values.yaml", 1],
      ["full-values.yaml", 5],
    ] as const) {
      const objs = objects(name);
      const sts = find(objs, "StatefulSet", "dzug-etcd");
      assert.equal(sts.spec.replicas, replicas);
      assert.equal(sts.spec.podManagementPolicy, "Parallel");
      const c = sts.spec.template.spec.containers[0];
      assert.match(c.image, /^(gcr\.io\/etcd-development|quay\.io\/coreos)\/etcd:v3\.5\.\d+$/);
      // The member's whole configuration comes from its init container (platform/etcd-admin member-init).
      assert.deepEqual(c.args, ["--config-file=/etc/etcd/config/etcd.yaml"]);
      const init = sts.spec.template.spec.initContainers[0];
      assert.deepEqual(init.args, ["platform/etcd-admin/main.ts", "member-init"]);
      const env = envOf(init);
      const members = env.get("DZUG_CLUSTER_MEMBERS").value.split(",");
      assert.equal(members.length, replicas);
      const scheme = name === "full-values.yaml" ? "https" : "http";
      members.forEach((m: string, i: number) => {
        assert.equal(
          m,
          `dzug-etcd-${i}=${scheme}://dzug-etcd-${i}.dzug-etcd-headless.${NAMESPACE}.svc.cluster.local:2380`,
        );
      });
      assert.equal(env.get("DZUG_MEMBER_LISTEN_METRICS_URLS").value, "http://0.0.0.0:2381");
      assert.equal(env.get("DZUG_MEMBER_NAME").valueFrom.fieldRef.fieldPath, "metadata.name");
      assert.deepEqual(c.readinessProbe.httpGet, { path: "/readyz", port: "metrics" });
      assert.deepEqual(c.livenessProbe.httpGet, { path: "/livez", port: "metrics" });
      assert.equal(c.ports.find((p: any) => p.name === "metrics").containerPort, 2381);
      const svc = find(objs, "Service", "dzug-etcd-headless");
      assert.equal(svc.spec.clusterIP, "None");
      assert.equal(svc.spec.publishNotReadyAddresses, true);
      assert.equal(sts.spec.serviceName, "dzug-etcd-headless");
      // The services dial every member.
      const user = find(objs, "Deployment", "dzug-user").spec.template.spec.containers[0];
      const endpoints = envOf(user).get("DZUG_ETCD_ENDPOINTS").value.split(",");
      assert.equal(endpoints.length, replicas);
    }
    const sts = find(objects("default"), "StatefulSet", "dzug-etcd");
    assert.equal(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "1Gi");
    assert.ok(sts.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution);
    assert.equal(find(objects("default"), "PodDisruptionBudget", "dzug-etcd").spec.minAvailable, 2);
    const full = find(objects("full-values.yaml"), "StatefulSet", "dzug-etcd");
    assert.equal(full.spec.volumeClaimTemplates[0].spec.storageClassName, "fast-ssd");
  });
});

describe("PostgreSQL and secrets", () => {
  test("in-cluster PostgreSQL with a generated password Secret by default", () => {
    const objs = objects("default");
    const sts = find(objs, "StatefulSet", "dzug-postgresql");
    assert.match(sts.spec.template.spec.containers[0].image, /^postgres:16\.\d+$/);
    assert.ok(sts.spec.volumeClaimTemplates[0]);
    const secret = find(objs, "Secret", "dzug-database");
    const url = Buffer.from(secret.data["database-url"], "base64").toString();
    const password = Buffer.from(secret.data["postgres-password"], "base64").toString();
    assert.equal(url, `postgres://dzug:${password}@dzug-postgresql.${NAMESPACE}.svc.cluster.local:5432/dzug`);
    assert.equal(secret.metadata.annotations?.["helm.sh/resource-policy"], "keep");
  });

  test("external url or existing Secret: no PostgreSQL, services read DZUG_DATABASE_URL from the right Secret", () => {
    const minimal = objects("minimal-values.yaml");
    assert.ok(!minimal.some((o) => o.kind === "StatefulSet" && o.metadata.name === "dzug-postgresql"));
    assert.equal(
      find(minimal, "Secret", "dzug-database").stringData["database-url"],
      "postgres://dzug:dzug@postgres.example.internal:5432/dzug",
    );
    const ext = objects("external-secret-values.yaml");
    assert.ok(!ext.some((o) => o.kind === "StatefulSet" && o.metadata.name === "dzug-postgresql"));
    assert.ok(!ext.some((o) => o.kind === "Secret" && o.metadata.name === "dzug-database"));
    const ref = envOf(find(ext, "Deployment", "dzug-relation").spec.template.spec.containers[0]).get(
      "DZUG_DATABASE_URL",
    );
    assert.deepEqual(ref.valueFrom.secretKeyRef, { name: "dzug-db", key: "url" });
  });

  test("JWT secret: generated once (lookup) or auth.existingSecret; only user and gateway get it", () => {
    const def = objects("default");
    const secret = find(def, "Secret", "dzug-auth");
    assert.ok(Buffer.from(secret.data["jwt-secret"], "base64").length >= 32);
    const tpl = readFileSync(join(CHART, "templates", "secrets.yaml"), "utf8");
    assert.match(tpl, /lookup "v1" "Secret"/);
    for (const [name, expected] of [
      ["default", { name: "dzug-auth", key: "jwt-secret" }],
      ["full-values.yaml", { name: "dzug-jwt", key: "secret" }],
    ] as const) {
      const objs = objects(name);
      for (const w of WORKLOADS) {
        const env = envOf(find(objs, "Deployment", `dzug-${w}`).spec.template.spec.containers[0]);
        if (w !== "gateway" && !SERVICES.find((s) => s.name === w)?.takesAuth)
          assert.ok(!env.has("DZUG_AUTH_JWT_SECRET"), w);
        else assert.deepEqual(env.get("DZUG_AUTH_JWT_SECRET").valueFrom.secretKeyRef, expected);
      }
    }
    assert.ok(!objects("full-values.yaml").some((o) => o.kind === "Secret" && o.metadata.name === "dzug-auth"));
  });
});

describe("user, relation, gateway Deployments", () => {
  test("commands, env, probes, grace period, hardening and scrape annotations", () => {
    const documented = documentedEnvNames(ARCH);
    for (const c of cases) {
      const objs = objects(c.name);
      for (const w of WORKLOADS) {
        const dep = find(objs, "Deployment", `dzug-${w}`);
        const pod = podSpecOf(dep);
        const ctr = pod.containers[0];
        const main = w === "gateway" ? "gateway/main.ts" : `services/${w}/main.ts`;
        assert.deepEqual([...ctr.command, ...ctr.args], ["node", main], `[${c.name}] ${w} command`);
        const env = envOf(ctr);
        for (const name of env.keys()) {
          if (name.startsWith("DZUG_")) assert.ok(documented.has(name), `[${c.name}] ${w} sets undocumented ${name}`);
        }
        // The heap bounds the list tests and bench:lists measure with (tests/harness/big-list.ts).
        assert.equal(env.get("NODE_OPTIONS").value, CONTAINER_NODE_OPTIONS, `[${c.name}] ${w} NODE_OPTIONS`);
        const drain = Number(env.get("DZUG_SHUTDOWN_DRAIN_TIMEOUT_MS").value);
        assert.ok(pod.terminationGracePeriodSeconds * 1000 > drain, `[${c.name}] ${w} grace <= drain`);
        assert.equal(pod.securityContext.runAsNonRoot, true);
        assert.equal(pod.securityContext.runAsUser, 10001);
        assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
        assert.equal(ctr.securityContext.readOnlyRootFilesystem, true);
        assert.equal(ctr.securityContext.allowPrivilegeEscalation, false);
        assert.deepEqual(ctr.securityContext.capabilities.drop, ["ALL"]);
        assert.ok(ctr.volumeMounts.some((m: any) => m.mountPath === "/tmp"));
        assert.ok(pod.volumes.some((v: any) => v.name === "tmp" && v.emptyDir));
        // Every process has its admin listener (/metrics, /healthz, /readyz) on container port "metrics".
        assert.equal(env.get("DZUG_ADMIN_PORT").value, "9464", `[${c.name}] ${w} admin port`);
        assert.deepEqual(
          ctr.ports.find((p: any) => p.name === "metrics"),
          { name: "metrics", containerPort: 9464, protocol: "TCP" },
          `[${c.name}] ${w} metrics port`,
        );
        if (w === "gateway") {
          // Probes on the admin port: the API port ("http") serves the API only.
          assert.deepEqual(ctr.startupProbe.httpGet, { path: "/healthz", port: "metrics" });
          assert.deepEqual(ctr.livenessProbe.httpGet, { path: "/healthz", port: "metrics" });
          assert.deepEqual(ctr.readinessProbe.httpGet, { path: "/readyz", port: "metrics" });
          assert.equal(env.get("DZUG_HTTP_PORT").value, "8080");
        } else {
          assert.deepEqual(ctr.livenessProbe.grpc, { port: 50051, service: "liveness" }); // alive while the process runs
          assert.deepEqual(ctr.startupProbe.grpc, { port: 50051, service: "liveness" });
          assert.deepEqual(ctr.readinessProbe.grpc, { port: 50051 });
          assert.deepEqual(env.get("DZUG_DISCOVERY_ADVERTISE_HOST").valueFrom, {
            fieldRef: { fieldPath: "status.podIP" },
          });
          assert.ok(env.has("DZUG_DATABASE_URL"));
        }
        const ann = dep.spec.template.metadata.annotations ?? {};
        if (c.name !== "minimal-values.yaml") {
          assert.equal(ann["prometheus.io/scrape"], "true");
          assert.equal(ann["prometheus.io/port"], "9464");
          assert.equal(ann["prometheus.io/path"], "/metrics");
        }
        // Service targetPorts name container ports.
        const svc = find(objs, "Service", `dzug-${w}`);
        const portNames = new Set(ctr.ports.map((p: any) => p.name));
        for (const p of svc.spec.ports)
          assert.ok(portNames.has(p.targetPort), `[${c.name}] ${w} Service targets ${p.targetPort}`);
      }
    }
  });

  test("replicas default to 2, PDBs exist, HPA replaces replicas when enabled", () => {
    for (const w of WORKLOADS) {
      assert.equal(find(objects("default"), "Deployment", `dzug-${w}`).spec.replicas, 2);
      assert.ok(find(objects("default"), "PodDisruptionBudget", `dzug-${w}`));
      const full = objects("full-values.yaml");
      assert.equal(find(full, "Deployment", `dzug-${w}`).spec.replicas, undefined);
      assert.equal(find(full, "HorizontalPodAutoscaler", `dzug-${w}`).spec.scaleTargetRef.name, `dzug-${w}`);
    }
  });
});

describe("gateway shutdown", () => {
  test("grace = preStop + propagation delay + drain + margin; the delay reaches the process", async () => {
    for (const [args, preStop, delayMs] of [
      [[], 0, 5000],
      [["--set", "gateway.preStopSleepSeconds=3", "--set", "gateway.propagationDelayMs=2500"], 3, 2500],
    ] as const) {
      const dep = find(await render([...args]), "Deployment", "dzug-gateway");
      const pod = dep.spec.template.spec;
      const c = pod.containers[0];
      assert.equal(envOf(c).get("DZUG_SHUTDOWN_PROPAGATION_DELAY_MS").value, String(delayMs));
      assert.equal(pod.terminationGracePeriodSeconds, preStop + Math.ceil(delayMs / 1000) + 10 + 10);
      if (preStop > 0) assert.equal(c.lifecycle.preStop.sleep.seconds, preStop);
      else assert.equal(c.lifecycle, undefined);
    }
  });

  test("preStop: the sleep action from Kubernetes 1.30 on, an exec of the image's sleep before", async () => {
    const preStopOn = async (kubeVersion: string) => {
      const args = ["--set", "gateway.preStopSleepSeconds=4", "--kube-version", kubeVersion];
      return find(await render(args), "Deployment", "dzug-gateway").spec.template.spec.containers[0].lifecycle.preStop;
    };
    for (const v of ["1.30.0", "1.31.2", "v1.30.1-eks-1234"])
      assert.deepEqual(await preStopOn(v), { sleep: { seconds: 4 } });
    for (const v of ["1.27.0", "1.29.9", "v1.29.3-gke.100"])
      assert.deepEqual(await preStopOn(v), { exec: { command: ["sleep", "4"] } });
  });
});

describe("NetworkPolicy", () => {
  test("on by default; each port admits only its callers (plus metrics scrapers)", () => {
    const objs = objects("default");
    const sel = (component: string) => ({
      podSelector: {
        matchLabels: {
          "app.kubernetes.io/name": "dzug",
          "app.kubernetes.io/instance": "dzug",
          ...(component ? { "app.kubernetes.io/component": component } : {}),
        },
      },
    });
    const rules = (name: string) => find(objs, "NetworkPolicy", name).spec.ingress;
    assert.deepEqual(rules("dzug-user")[0].from, [sel("gateway"), sel("message"), sel("relation"), sel("test")]);
    assert.deepEqual(rules("dzug-user")[0].ports, [{ port: "grpc", protocol: "TCP" }]);
    assert.deepEqual(rules("dzug-relation")[0].from, [sel("gateway"), sel("message"), sel("test")]);
    const pg = rules("dzug-postgresql")[0].from.map(
      (p: any) => p.podSelector.matchLabels["app.kubernetes.io/component"],
    );
    assert.deepEqual(pg.toSorted(), SERVICE_NAMES.toSorted());
    assert.deepEqual(rules("dzug-etcd")[0].from, [sel("")]);
    assert.deepEqual(rules("dzug-etcd")[0].ports, [{ port: "client", protocol: "TCP" }]);
    // Peers, and the status port where a starting member asks whether a cluster exists (cluster-marker.ts).
    assert.deepEqual(rules("dzug-etcd")[1], {
      from: [sel("etcd")],
      ports: [
        { port: "peer", protocol: "TCP" },
        { port: 2382, protocol: "TCP" },
      ],
    });
    const [gw, gwAdmin, ...gwMore] = rules("dzug-gateway");
    assert.deepEqual(gw.from[0], sel("test"));
    assert.equal(gw.from[1].namespaceSelector.matchLabels["kubernetes.io/metadata.name"], "ingress-nginx");
    assert.deepEqual(gw.ports, [{ port: "http", protocol: "TCP" }], "the ingress controller reaches the API port only");
    // The admin port (metrics, readiness, status page): scrapers and the helm test pod, not the ingress controller.
    assert.deepEqual(gwAdmin.from[0], sel("test"));
    assert.deepEqual(
      gwAdmin.from.slice(1).map((p: any) => p.namespaceSelector.matchLabels["kubernetes.io/metadata.name"]),
      ["monitoring"],
    );
    assert.deepEqual(gwAdmin.ports, [{ port: "metrics", protocol: "TCP" }]);
    assert.deepEqual(gwMore, []);
    for (const name of ["dzug-etcd", "dzug-user", "dzug-relation"]) {
      const scrape = rules(name).at(-1);
      assert.equal(scrape.from[0].namespaceSelector.matchLabels["kubernetes.io/metadata.name"], "monitoring");
      assert.deepEqual(scrape.ports, [{ port: "metrics", protocol: "TCP" }]);
    }
  });
});

describe("the service list", () => {
  test("_services.tpl is generated from services/*/main.ts: every service, and who calls whom (NetworkPolicy)", () => {
    const committed = readFileSync(join(REPO_ROOT, SERVICES_TPL), "utf8");
    assert.equal(committed, servicesTpl(serviceCalls(REPO_ROOT)), "run npm run chart:services");
    assert.deepEqual(callsOf(readFileSync(join(REPO_ROOT, "services/relation/main.ts"), "utf8")), ["message", "user"]);
  });

  test("the chart's (templates/_services.tpl) holds every folder of services/, and each has a workload", async () => {
    const tpl = readFileSync(join(CHART, "templates", "_services.tpl"), "utf8");
    const list = /define "dzug\.grpcServices" -}}\s*(\[[^\]]*\])/.exec(tpl)?.[1];
    assert.ok(list, "_services.tpl defines dzug.grpcServices as a JSON array");
    assert.deepEqual(JSON.parse(list).toSorted(), SERVICE_NAMES.toSorted());
    for (const c of cases) for (const s of SERVICE_NAMES) find(objects(c.name), "Deployment", `dzug-${s}`);
  });
});

describe("values.schema.json", () => {
  test("rejects a misspelt top-level key and a nested one", async () => {
    const [top, nested, good] = await Promise.all([
      helm(["template", "x", CHART, "--set", "replicaCount_typo=1"]),
      helm(["template", "x", CHART, "--set", "etcd.persistence.sise=2Gi"]),
      helm(["template", "x", CHART, "--set", "etcd.persistence.size=2Gi"]),
    ]);
    assert.notEqual(top.code, 0);
    assert.match(top.stderr, /replicaCount_typo/);
    assert.notEqual(nested.code, 0);
    assert.match(nested.stderr, /sise/);
    assert.equal(good.code, 0, good.stderr);
  });

  test("sets additionalProperties: false on every object with properties", () => {
    const schema = JSON.parse(readFileSync(join(CHART, "values.schema.json"), "utf8"));
    const loose: string[] = [];
    const walk = (s: any, path: string) => {
      if (!s || typeof s !== "object") return;
      if (s.properties) {
        if (s.additionalProperties !== false) loose.push(path || "(root)");
        for (const [k, v] of Object.entries(s.properties)) walk(v, `${path}.${k}`);
      }
      if (s.items) walk(s.items, `${path}[]`);
    };
    walk(schema, "");
    for (const [k, v] of Object.entries(schema.definitions ?? {})) walk(v, `#/definitions/${k}`);
    assert.deepEqual(loose, []);
  });
});

describe("helm tests and NOTES", () => {
  test("test pods: gateway call, gRPC health of each service, etcd endpoint health", () => {
    const tests = objects("default").filter((o) => o.metadata.annotations?.["helm.sh/hook"] === "test");
    const byName = new Map(tests.map((t) => [t.metadata.name, t]));
    const gw = byName.get("dzug-test-gateway");
    assert.ok(gw);
    assert.match(gw.spec.containers[0].args[0], /"\$admin\/readyz"/);
    assert.match(gw.spec.containers[0].args[0], /admin=http:\/\/dzug-gateway:9464\n/);
    assert.match(gw.spec.containers[0].args[0], /douyin\/user\/register/);
    const grpc = byName.get("dzug-test-grpc-health");
    assert.ok(grpc);
    assert.deepEqual(
      grpc.spec.containers.map((c: any) => c.args[0]).toSorted(),
      SERVICE_NAMES.map((s) => `-addr=dzug-${s}:50051`).toSorted(),
    );
    for (const c of grpc.spec.containers) assert.match(c.image, /:v\d+\.\d+\.\d+$/);
    const etcd = byName.get("dzug-test-etcd");
    assert.ok(etcd);
    assert.deepEqual(etcd.spec.containers[0].args.slice(-2), ["endpoint", "health"]);
    // Client auth is on by default: the health check runs as the read-only gateway account (etcd-io/etcd#13692).
    const env = envOf(etcd.spec.containers[0]);
    assert.equal(env.get("ETCDCTL_USER").value, "gateway");
    assert.deepEqual(env.get("ETCDCTL_PASSWORD").valueFrom.secretKeyRef, {
      name: "dzug-etcd",
      key: "gateway-password",
    });
  });

  test("NOTES tell how to reach the API and Grafana", async () => {
    const text = await notesFor(["-f", join(CHART, "ci", "full-values.yaml")]);
    assert.match(text, /https:\/\/dzug\.example\.com\/openapi\.json/);
    assert.match(text, /port-forward svc\/dzug-gateway 8080:8080/);
    assert.match(text, /port-forward svc\/dzug-gateway 9464\n\s*curl http:\/\/localhost:9464\/readyz/);
    assert.doesNotMatch(text, /localhost:8080\/(readyz|healthz|metrics|_dzug)/, "operations are not on the API port");
    assert.match(text, /Grafana/);
    assert.match(text, /port-forward svc\/kube-prometheus-stack-grafana 3000:80/);
    assert.doesNotMatch(text, /WARNING/);
  });

  test("NOTES warn when the image repository is the local default", async () => {
    assert.match(await notesFor([]), /WARNING: image.repository is the local default "localhost\/dzug"/);
  });
});
