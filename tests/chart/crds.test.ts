// Objects of CRD kinds (ServiceMonitor, PodMonitor, PrometheusRule, HTTPRoute) render only where the cluster serves their
// API: `auto` leaves them out silently (NOTES say so), `true` fails naming the missing CRD, `false` never
// renders them. Real `helm template` with and without --api-versions.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { apiVersionArgs, CHART, CRD_APIS, helm, NAMESPACE, notesFor, parseManifests, RELEASE } from "./helpers.ts";

interface Kind {
  kind: keyof typeof CRD_APIS;
  key: string;
  crd: string;
  /** Other values the kind needs to render. */
  extra: string[];
}

const KINDS: Kind[] = [
  {
    kind: "ServiceMonitor",
    key: "metrics.serviceMonitor.enabled",
    crd: "servicemonitors.monitoring.coreos.com",
    extra: [],
  },
  { kind: "PodMonitor", key: "metrics.podMonitor.enabled", crd: "podmonitors.monitoring.coreos.com", extra: [] },
  {
    kind: "PrometheusRule",
    key: "metrics.prometheusRule.enabled",
    crd: "prometheusrules.monitoring.coreos.com",
    extra: [],
  },
  {
    kind: "HTTPRoute",
    key: "httpRoute.enabled",
    crd: "httproutes.gateway.networking.k8s.io",
    extra: ["--set", "httpRoute.parentRefs[0].name=eg"],
  },
];

/** The cluster serves every CRD API but this kind's (or all of them). */
function cluster(k: Kind, has: boolean): string[] {
  return apiVersionArgs(Object.entries(CRD_APIS).flatMap(([kind, api]) => (has || kind !== k.kind ? [api] : [])));
}

async function template(k: Kind, setting: string, has: boolean) {
  const set = setting === "auto" ? ["--set-string", `${k.key}=auto`] : ["--set", `${k.key}=${setting}`];
  const r = await helm(["template", RELEASE, CHART, "--namespace", NAMESPACE, ...set, ...k.extra, ...cluster(k, has)]);
  return { ...r, kinds: r.code === 0 ? parseManifests(r.stdout).filter((o) => o.kind === k.kind).length : 0 };
}

for (const k of KINDS) {
  describe(`${k.kind} (${k.key})`, () => {
    test("auto: rendered when the cluster has the API, left out (and said so in NOTES) when not", async () => {
      const [withApi, without] = await Promise.all([template(k, "auto", true), template(k, "auto", false)]);
      assert.equal(withApi.code, 0, withApi.stderr);
      assert.ok(withApi.kinds > 0, `no ${k.kind} rendered with its API present`);
      assert.equal(without.code, 0, without.stderr);
      assert.equal(without.kinds, 0);
      const notes = await notesFor(["--set-string", `${k.key}=auto`, ...k.extra, ...cluster(k, false)]);
      assert.match(notes, new RegExp(`Not rendered: ${k.key.replaceAll(".", "\\.")}=auto .*CRD ${k.crd}`));
      assert.doesNotMatch(
        await notesFor(["--set-string", `${k.key}=auto`, ...k.extra, ...cluster(k, true)]),
        /Not rendered/,
      );
    });

    test("true: rendered when the cluster has the API; otherwise the render fails naming the CRD", async () => {
      const [withApi, without] = await Promise.all([template(k, "true", true), template(k, "true", false)]);
      assert.equal(withApi.code, 0, withApi.stderr);
      assert.ok(withApi.kinds > 0, `no ${k.kind} rendered with its API present`);
      assert.notEqual(without.code, 0, `rendered without the ${k.kind} API`);
      assert.ok(without.stderr.includes(`the CRD ${k.crd} is missing`), without.stderr);
      assert.ok(without.stderr.includes(CRD_APIS[k.kind]), without.stderr);
      assert.ok(without.stderr.includes(`${k.key}=auto`), "the message names the way out");
    });

    test("false: never rendered", async () => {
      for (const r of await Promise.all([template(k, "false", true), template(k, "false", false)])) {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.kinds, 0);
      }
    });
  });
}

test("the schema takes true, false and auto only", async () => {
  const r = await helm(["template", RELEASE, CHART, "--set-string", "metrics.serviceMonitor.enabled=yes"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /metrics\.serviceMonitor\.enabled/);
});
