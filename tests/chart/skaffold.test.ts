// skaffold.yaml against the skaffold v4beta14 JSON schema, and k8s/ consistent with it and the chart.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Ajv } from "ajv";
import { parse, parseAllDocuments } from "yaml";
import { apiVersionArgs, CHART, CRD_APIS, REPO_ROOT, render } from "./helpers.ts";

// The schema skaffold publishes for this apiVersion, kept in the repo as a test fixture.
const SCHEMA = join(REPO_ROOT, "tests", "chart", "fixtures", "skaffold-v4beta14.json");
const skaffold = parse(readFileSync(join(REPO_ROOT, "skaffold.yaml"), "utf8"));
const values = parse(readFileSync(join(CHART, "values.yaml"), "utf8"));
const k8s = (f: string) => parse(readFileSync(join(REPO_ROOT, "k8s", f), "utf8"));

test("skaffold.yaml validates against the skaffold v4beta14 schema", () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, "utf8")));
  assert.equal(skaffold.apiVersion, "skaffold/v4beta14");
  assert.ok(validate(skaffold), JSON.stringify(validate.errors, null, 2));
  // A misspelt key is rejected too (the schema forbids additional properties).
  const typo = structuredClone(skaffold) as any;
  typo.deploy.helm.releases[0].chartPth = "charts/dzug";
  assert.equal(validate(typo), false);
});

test("one artifact dzug, matching the chart's image values; helm release points at the chart", () => {
  const artifacts = skaffold.build.artifacts;
  assert.equal(artifacts.length, 1);
  assert.equal(artifacts[0].image, "dzug");
  assert.equal(artifacts[0].docker.dockerfile, "Dockerfile");
  // localhost/dzug -> dzug: the chart's default repository is the same image.
  assert.equal(values.image.repository.split("/").at(-1), artifacts[0].image);
  const release = skaffold.deploy.helm.releases[0];
  assert.equal(release.chartPath, "charts/dzug");
  assert.ok(existsSync(join(REPO_ROOT, release.chartPath, "Chart.yaml")));
  assert.deepEqual(release.setValueTemplates, {
    "image.repository": "{{.IMAGE_REPO_dzug}}",
    "image.tag": "{{.IMAGE_TAG_dzug}}",
  });
  for (const key of [...Object.keys(release.setValueTemplates), ...Object.keys(release.setValues ?? {})]) {
    const [a, b] = key.split(".") as [string, string];
    assert.ok(b in values[a], `${key} is not a chart value`);
  }
});

test("port-forwards name Services the chart and the addons create", async () => {
  // On kind after the addons profile: the Prometheus Operator CRDs are there, so the `auto` monitors render.
  const objs = await render([
    "--namespace",
    "dzug",
    "-f",
    join(REPO_ROOT, "k8s", "dzug-kind-values.yaml"),
    ...apiVersionArgs([CRD_APIS.ServiceMonitor, CRD_APIS.PodMonitor]),
  ]);
  // The gateway's API (8080) and its admin listener (9464: status page, metrics), by Service port name.
  for (const [localPort, portName] of [
    [8080, "http"],
    [9464, "metrics"],
  ] as const) {
    const gw = skaffold.portForward.find((p: any) => p.localPort === localPort);
    assert.ok(gw, `no port-forward to localhost:${localPort}`);
    const svc = objs.find((o) => o.kind === "Service" && o.metadata.name === gw.resourceName);
    assert.ok(svc, `no Service ${gw.resourceName}`);
    assert.equal(svc.spec.ports.find((p: any) => p.port === gw.port)?.name, portName, `localhost:${localPort}`);
    assert.equal(gw.namespace, skaffold.deploy.helm.releases[0].namespace);
  }
  const grafana = skaffold.portForward.find((p: any) => p.localPort === 3000);
  const kps = k8s("kube-prometheus-stack-values.yaml");
  assert.equal(grafana.resourceName, kps.grafana.fullnameOverride);
  const addons = skaffold.profiles.find((p: any) => p.name === "addons");
  const kpsRelease = addons.deploy.helm.releases.find((r: any) => r.remoteChart === "kube-prometheus-stack");
  assert.equal(grafana.namespace, kpsRelease.namespace);
  for (const r of addons.deploy.helm.releases) {
    assert.match(r.version, /^\d+\.\d+\.\d+$/, `${r.name} is pinned`);
    for (const f of r.valuesFiles) assert.ok(existsSync(join(REPO_ROOT, f)), f);
  }
  // The kind values' ServiceMonitor and dashboards match what the addons' Prometheus and Grafana look for.
  const monitors = objs.filter((o) => o.kind === "ServiceMonitor");
  assert.ok(monitors.length > 0);
  assert.equal(kps.prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues, false);
  const cms = objs.filter((o) => o.kind === "ConfigMap" && o.metadata.labels?.[kps.grafana.sidecar.dashboards.label]);
  assert.ok(cms.length > 0);
  for (const cm of cms)
    assert.equal(cm.metadata.labels?.[kps.grafana.sidecar.dashboards.label], kps.grafana.sidecar.dashboards.labelValue);
});

test("kind maps 80/443 to the ingress-ready node where ingress-nginx binds hostPorts; the chart's ingress class matches", () => {
  const kind = k8s("kind-config.yaml");
  const profile = skaffold.profiles.find((p: any) => p.name === "kind");
  assert.equal(profile.activation[0].kubeContext, `kind-${kind.name}`);
  const node = kind.nodes.find((n: any) => n.labels?.["ingress-ready"] === "true");
  assert.ok(node, "no node labelled ingress-ready=true");
  const mapped = new Set(node.extraPortMappings.map((m: any) => m.containerPort));
  const nginx = k8s("ingress-nginx-values.yaml");
  assert.equal(nginx.controller.hostPort.enabled, true);
  assert.equal(nginx.controller.nodeSelector["ingress-ready"], "true");
  for (const p of Object.values(nginx.controller.hostPort.ports))
    assert.ok(mapped.has(p), `hostPort ${p} is not mapped by kind`);
  assert.deepEqual([...mapped].sort(), [443, 80]);
  const kindValues = k8s("dzug-kind-values.yaml");
  assert.equal(kindValues.ingress.enabled, true);
  assert.equal(kindValues.ingress.className, nginx.controller.ingressClassResource.name);
  const patch = profile.patches.find((p: any) => p.path.endsWith("/valuesFiles"));
  assert.deepEqual(patch.value, ["k8s/dzug-kind-values.yaml"]);
});

test("every YAML file under k8s/ parses", () => {
  for (const f of readdirSync(join(REPO_ROOT, "k8s")).filter((x) => /\.ya?ml$/.test(x))) {
    for (const doc of parseAllDocuments(readFileSync(join(REPO_ROOT, "k8s", f), "utf8"))) {
      assert.deepEqual(doc.errors, [], f);
    }
  }
});

test("the addons profile builds nothing (its patch removes the base artifacts)", () => {
  const addons = skaffold.profiles.find((p: any) => p.name === "addons");
  assert.ok(skaffold.build.artifacts.length > 0, "the base builds the dzug image");
  assert.deepEqual(addons.patches, [{ op: "remove", path: "/build/artifacts" }]);
  assert.equal(addons.build, undefined, "an empty build.artifacts in a profile would keep the base list");
});
