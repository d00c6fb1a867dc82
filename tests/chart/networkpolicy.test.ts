// The chart's NetworkPolicies against the connections the system makes (flows.ts derives them from the rendered
// objects and the code, not from the policies) for the defaults and every charts/dzug/ci/*-values.yaml, each
// also with the egress policies on: every needed connection admitted, every one that must stay closed refused
// (forbidden-flows.ts), evaluated with networking.k8s.io/v1 semantics (netpol-eval.ts).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { component, type Release, releaseOf } from "./cluster-model.ts";
import { defaultWorld, type Flow, flowName, neededFlows, type World } from "./flows.ts";
import { forbiddenFlows } from "./forbidden-flows.ts";
import { apiVersionArgs, NAMESPACE, render, valuesCases } from "./helpers.ts";
import { type Endpoint, evaluate, type NetworkPolicy } from "./netpol-eval.ts";

describe("the NetworkPolicy evaluator", () => {
  const ns = new Map<string, Record<string, string>>([
    ["a", { "kubernetes.io/metadata.name": "a", team: "x" }],
    ["b", { "kubernetes.io/metadata.name": "b" }],
  ]);
  const pod = (name: string, namespace: string, labels: Record<string, string>, ip: string): Endpoint => ({
    name,
    namespace,
    labels,
    ip,
    ports: [{ name: "web", containerPort: 8080 }],
  });
  const server = pod("server", "a", { app: "server" }, "10.0.0.1");
  const client = pod("client", "a", { app: "client" }, "10.0.0.2");
  const other = pod("other", "b", { app: "client" }, "10.0.1.2");
  const policy = (spec: NetworkPolicy["spec"], namespace = "a"): NetworkPolicy => ({
    metadata: { name: "p", namespace },
    spec,
  });
  const allows = (ps: NetworkPolicy[], from: Endpoint, to: Endpoint, port: number, protocol = "TCP") =>
    evaluate(ps, ns, from, to, port, protocol).allowed;

  test("no policy selecting a pod admits everything; one that selects it denies what it does not list", () => {
    assert.ok(allows([], other, server, 8080));
    const deny = policy({ podSelector: { matchLabels: { app: "server" } } });
    assert.ok(!allows([deny], client, server, 8080));
    assert.ok(allows([deny], server, client, 8080), "Ingress only: the server may still connect out");
  });

  test("peers: podSelector is the policy's namespace; namespaceSelector and podSelector together are an AND", () => {
    const from = (peers: object[]) =>
      policy({ podSelector: { matchLabels: { app: "server" } }, ingress: [{ from: peers as never }] });
    assert.ok(allows([from([{ podSelector: { matchLabels: { app: "client" } } }])], client, server, 8080));
    assert.ok(!allows([from([{ podSelector: { matchLabels: { app: "client" } } }])], other, server, 8080));
    const both = { namespaceSelector: { matchLabels: { team: "x" } }, podSelector: { matchLabels: { app: "client" } } };
    assert.ok(allows([from([both])], client, server, 8080) && !allows([from([both])], other, server, 8080));
    const either = [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "b" } } }];
    assert.ok(allows([from(either)], other, server, 8080) && !allows([from(either)], client, server, 8080));
    const block = [{ ipBlock: { cidr: "10.0.0.0/16", except: ["10.0.1.0/24"] } }];
    assert.ok(allows([from(block)], client, server, 8080) && !allows([from(block)], other, server, 8080));
    const expr = [{ podSelector: { matchExpressions: [{ key: "app", operator: "In", values: ["client"] }] } }];
    assert.ok(allows([from(expr)], client, server, 8080));
  });

  test("ports: by number, range, name of the target's container port, protocol (TCP by default)", () => {
    const on = (ports: object[]) =>
      policy({ podSelector: { matchLabels: { app: "server" } }, ingress: [{ ports: ports as never }] });
    assert.ok(allows([on([{ port: "web" }])], client, server, 8080));
    assert.ok(!allows([on([{ port: "web" }])], client, server, 8081));
    assert.ok(!allows([on([{ port: "metrics" }])], client, server, 8080));
    assert.ok(allows([on([{ port: 8000, endPort: 8100 }])], client, server, 8080));
    assert.ok(!allows([on([{ port: 8080 }])], client, server, 8080, "UDP"));
    assert.ok(allows([on([{ port: 8080, protocol: "UDP" }])], client, server, 8080, "UDP"));
  });

  test("egress: the source's policies must admit it too; policyTypes decide which side a policy isolates", () => {
    const out = policy({ podSelector: { matchLabels: { app: "client" } }, policyTypes: ["Egress"] });
    assert.ok(!allows([out], client, server, 8080));
    const ok = policy({
      podSelector: { matchLabels: { app: "client" } },
      egress: [{ to: [{ podSelector: { matchLabels: { app: "server" } } }], ports: [{ port: "web" }] }],
    });
    assert.ok(allows([ok], client, server, 8080), "policyTypes defaults to Ingress + Egress with egress rules");
    assert.ok(!allows([ok], client, other, 8080), "a podSelector peer is the policy's namespace only");
    assert.ok(!allows([ok], server, client, 8080), "without policyTypes it isolates the client's ingress too");
    assert.ok(allows([out], server, client, 8080), "policyTypes [Egress]: the client's ingress stays open");
  });
});

interface Case {
  name: string;
  args: string[];
  world?: Parameters<typeof defaultWorld>[0];
}

/** The egress variant of a render: the peers the test's world needs (its external database, its collector). */
function egressArgs(r: Release, world: World): string[] {
  const args = ["--set", "networkPolicy.egress.enabled=true"];
  if (!r.pods.some((p) => component(p) === "postgresql"))
    args.push("--set", `networkPolicy.egress.databaseTo[0].ipBlock.cidr=${world.externalDatabase.ip}/32`);
  const otlp = neededFlows(r, world).find((f) => f.why.startsWith("OTEL_"));
  if (otlp)
    args.push(
      "--set",
      `networkPolicy.egress.otlpTo[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=${otlp.to.namespace}`,
    );
  return args;
}

function check(r: Release, world: World): { needed: Flow[]; problems: string[] } {
  const namespaces = new Map<string, Record<string, string>>();
  const needed = neededFlows(r, world);
  const entrances = [
    ...Object.values(world.ingressControllers),
    ...needed.filter((f) => f.why.startsWith("HTTPRoute")).map((f) => f.from),
  ];
  const problems: string[] = [];
  for (const f of needed) {
    const v = evaluate(r.policies, namespaces, f.from, f.to, f.port, f.protocol);
    if (!v.allowed) problems.push(`needed but refused by ${v.reason}: ${flowName(f)}`);
  }
  for (const f of forbiddenFlows(r, world, entrances))
    if (evaluate(r.policies, namespaces, f.from, f.to, f.port, f.protocol).allowed)
      problems.push(`must be refused but admitted: ${flowName(f)}`);
  return { needed, problems };
}

/** What the derivation must have found, so that a flow it misses cannot pass by being absent. */
function coverage(r: Release, needed: Flow[]): string[] {
  const out: string[] = [];
  const has = (pred: (f: Flow) => boolean, what: string) => needed.some(pred) || out.push(`no flow: ${what}`);
  for (const p of r.pods) {
    const c = component(p) ?? p.name;
    if (c !== "postgresql" && c !== "etcd")
      has((f) => f.from === p && f.why !== "DNS", `${p.name} (${c}) connects to nothing`);
    if (c !== "etcd" && p.containers.some((x) => x.env?.some((e) => e.name === "DZUG_ETCD_ENDPOINTS")))
      has((f) => f.from === p && component(f.to) === "etcd" && f.port === 2379, `${p.name} -> etcd client`);
  }
  const etcd = r.pods.filter((p) => component(p) === "etcd");
  if (etcd.length > 1) has((f) => component(f.from) === "etcd" && f.port === 2380, "etcd peers");
  has((f) => component(f.from) === "test" && component(f.to) === "gateway", "helm test -> gateway");
  if (r.objects.some((o) => o.kind === "Ingress")) has((f) => f.why.startsWith("Ingress"), "ingress -> gateway");
  if (r.objects.some((o) => o.kind === "HTTPRoute")) has((f) => f.why.startsWith("HTTPRoute"), "Gateway -> gateway");
  return out;
}

const cases: Case[] = [
  ...valuesCases().map((c) => ({ name: c.name, args: c.args })),
  {
    name: "HTTPRoute to a Gateway in the release's namespace",
    args: ["--set", "httpRoute.enabled=true", "--set", "httpRoute.parentRefs[0].name=eg"],
  },
  {
    name: "Envoy Gateway proxies in their controller's namespace (networkPolicy.gatewayApiFrom)",
    args: [
      ...["--set", "httpRoute.enabled=true", "--set", "httpRoute.parentRefs[0].name=eg"],
      ...["--set", "httpRoute.parentRefs[0].namespace=apps"],
      "--set",
      "networkPolicy.gatewayApiFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=envoy-gateway-system",
    ],
    world: { gatewayProxyNamespace: "envoy-gateway-system" },
  },
];

for (const c of cases) {
  test(`NetworkPolicies admit exactly the flows of the system: ${c.name} (ingress only, then with egress)`, async (t) => {
    const world = defaultWorld(c.world);
    const base = releaseOf(await render([...c.args, ...apiVersionArgs()]), NAMESPACE);
    const hasEgress = base.policies.some((p) => p.spec.policyTypes?.includes("Egress"));
    const variants: [string, Release][] = [[hasEgress ? "egress on (in the values)" : "ingress only", base]];
    if (!hasEgress)
      variants.push([
        "egress on",
        releaseOf(await render([...c.args, ...apiVersionArgs(), ...egressArgs(base, world)]), NAMESPACE),
      ]);
    for (const [name, r] of variants) {
      const { needed, problems } = check(r, world);
      t.diagnostic(`${name}: ${needed.length} needed flows, ${r.policies.length} policies`);
      assert.deepEqual([...coverage(r, needed), ...problems], [], name);
    }
  });
}

test("without the HTTPRoute (auto, no Gateway API in the cluster) no Gateway namespace is admitted", async () => {
  const r = releaseOf(
    await render(["--set", "httpRoute.enabled=auto", "--set", "httpRoute.parentRefs[0].name=eg"]),
    NAMESPACE,
  );
  const world = defaultWorld();
  const proxy = world.gatewayProxy({ name: "eg" }, NAMESPACE);
  const gw = r.pods.find((p) => component(p) === "gateway");
  assert.ok(gw);
  assert.equal(evaluate(r.policies, new Map(), proxy, gw, 8080).allowed, false);
});

test("egress on with an external database or an OTLP endpoint but no peers for them fails, naming the key", async () => {
  await assert.rejects(
    render(["-f", "charts/dzug/ci/minimal-values.yaml", "--set", "networkPolicy.egress.enabled=true"]),
    /networkPolicy\.egress\.databaseTo/,
  );
  await assert.rejects(
    render([
      ...["--set", "networkPolicy.egress.enabled=true", "--set", "config.extraEnv[0].name=OTEL_EXPORTER_OTLP_ENDPOINT"],
      ...["--set", "config.extraEnv[0].value=http://otel.observability:4318"],
    ]),
    /networkPolicy\.egress\.otlpTo/,
  );
});
