// The connections a rendered release makes, derived from what runs rather than from the policies: the
// Ingress and HTTPRoute objects (their controller / Gateway proxies -> the backends), the code's discovery
// clients (gateway -> every upstream, each service -> what its main.ts calls: scripts/lib/chart-services.ts),
// every host:port a pod's spec names (etcd endpoints and members, the helm test pods' targets), the
// database, the scrapes the annotations and monitors ask for, DNS and the OTLP collector. And the
// connections that must stay closed. The world outside the release (controllers, Prometheus, DNS, an
// external database, strangers) is modelled on what k8s/ installs and the chart's defaults describe.
import { UPSTREAM_NAMES } from "../../gateway/upstreams.ts";
import { serviceCalls } from "../../scripts/lib/chart-services.ts";
import { addressesIn, component, namedPort, type Pod, type Release, resolve, type Target } from "./cluster-model.ts";
import { REPO_ROOT } from "./helpers.ts";
import type { Endpoint } from "./netpol-eval.ts";

export interface Flow {
  from: Endpoint;
  to: Endpoint;
  port: number;
  protocol: "TCP" | "UDP";
  why: string;
}

export const flowName = (f: Flow) => `${f.from.name} -> ${f.to.name}:${f.port}/${f.protocol} (${f.why})`;

let nextExternal = 2;
function external(name: string, namespace: string | undefined, labels: Record<string, string> = {}): Endpoint {
  const n = nextExternal++;
  return { name, namespace, labels, ip: namespace ? `10.245.${n >> 8}.${n & 255}` : `203.0.113.${n & 255}` };
}

export interface World {
  /** Ingress controller pods by IngressClass name. */
  ingressControllers: Record<string, Endpoint>;
  /** A proxy pod of the Gateway `ref` (its namespace defaults to the route's). */
  gatewayProxy: (ref: { name: string; namespace?: string }, routeNamespace: string) => Endpoint;
  prometheus: Endpoint;
  dns: Endpoint;
  externalDatabase: Endpoint;
  /** The OTLP collector pod behind a Service host name `svc.namespace[...]`. */
  otlpCollector: (host: string) => Endpoint;
  /** A pod of the release's namespace that is not the release's, and an address on the internet. */
  stranger: (releaseNamespace: string) => Endpoint;
  internet: Endpoint;
}

/**
 * ingress-nginx's controller as k8s/ingress-nginx-values.yaml installs it; kube-prometheus-stack's Prometheus in
 * `monitoring`; CoreDNS; Gateway proxies in the Gateway's namespace (Istio, Envoy Gateway in its
 * gateway-namespace mode) unless `gatewayProxyNamespace` says where the implementation runs them.
 */
export function defaultWorld(opts: { gatewayProxyNamespace?: string } = {}): World {
  const ingressNginx = external("ingress-nginx-controller", "ingress-nginx", {
    "app.kubernetes.io/name": "ingress-nginx",
    "app.kubernetes.io/instance": "ingress-nginx",
    "app.kubernetes.io/component": "controller",
  });
  const dns = external("coredns", "kube-system", { "k8s-app": "kube-dns" });
  dns.ports = [
    { name: "dns", containerPort: 53, protocol: "UDP" },
    { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
  ];
  return {
    ingressControllers: { nginx: ingressNginx },
    gatewayProxy: (ref, routeNamespace) =>
      external(`gateway-proxy-${ref.name}`, opts.gatewayProxyNamespace ?? ref.namespace ?? routeNamespace, {
        "gateway.envoyproxy.io/owning-gateway-name": ref.name,
        "app.kubernetes.io/name": "envoy",
      }),
    prometheus: external("prometheus", "monitoring", { "app.kubernetes.io/name": "prometheus" }),
    dns,
    externalDatabase: { name: "external-postgresql", ip: "192.0.2.10" },
    otlpCollector: (host) => {
      const ns = host.split(".")[1];
      if (!ns) throw new Error(`OTLP endpoint host ${host}: name the collector's namespace (svc.namespace)`);
      return external(`otlp-${host}`, ns, { "app.kubernetes.io/name": host.split(".")[0] as string });
    },
    stranger: (ns) => external("stranger", ns, { app: "stranger" }),
    internet: external("internet", undefined),
  };
}

/** A pod's environment variable of that name (any container; the value is absent when it comes from a Secret). */
const env = (pod: Pod, name: string) => pod.containers.flatMap((c) => c.env ?? []).find((e) => e.name === name);
export const podsOf = (r: Release, c: string) => r.pods.filter((p) => component(p) === c);

/** Pods and ports behind Service `name` port `port` (its name or number). */
function serviceTargets(r: Release, name: string, port: { name?: string; number?: number }): Target[] {
  const svc = r.services.find((s) => s.metadata.name === name);
  if (!svc) throw new Error(`no Service ${name} in the release`);
  const sp = svc.spec.ports.find((p: any) => (port.name && p.name === port.name) || p.port === port.number);
  if (!sp) throw new Error(`Service ${name} has no port ${JSON.stringify(port)}`);
  return resolve(r, name, sp.port) ?? [];
}

function callFlows(r: Release): Flow[] {
  const out: Flow[] = [];
  const callers: [string, string[]][] = [
    ["gateway", UPSTREAM_NAMES],
    ...serviceCalls(REPO_ROOT).map((s): [string, string[]] => [s.name, s.calls]),
  ];
  for (const [caller, callees] of callers) {
    for (const callee of callees) {
      const targets = podsOf(r, callee);
      if (targets.length === 0) throw new Error(`${caller} calls ${callee}, which the chart does not run`);
      for (const from of podsOf(r, caller))
        for (const to of targets) {
          const port = Number(env(to, "DZUG_GRPC_PORT")?.value);
          out.push({ from, to, port, protocol: "TCP", why: `${caller} calls ${callee} (discovery)` });
        }
    }
  }
  return out;
}

function routeFlows(r: Release, world: World): Flow[] {
  const out: Flow[] = [];
  for (const o of r.objects) {
    if (o.kind === "Ingress") {
      const from = world.ingressControllers[o.spec.ingressClassName];
      if (!from) throw new Error(`no model of the controller of IngressClass ${o.spec.ingressClassName}`);
      for (const path of (o.spec.rules ?? []).flatMap((x: any) => x.http?.paths ?? [])) {
        const b = path.backend.service;
        for (const t of serviceTargets(r, b.name, b.port))
          out.push({ from, to: t.pod, port: t.port, protocol: "TCP", why: `Ingress ${o.metadata.name}` });
      }
    } else if (o.kind === "HTTPRoute") {
      for (const ref of o.spec.parentRefs) {
        const from = world.gatewayProxy(ref, r.namespace);
        for (const b of o.spec.rules.flatMap((x: any) => x.backendRefs ?? []))
          for (const t of serviceTargets(r, b.name, { number: b.port }))
            out.push({ from, to: t.pod, port: t.port, protocol: "TCP", why: `HTTPRoute parent ${ref.name}` });
      }
    }
  }
  return out;
}

/** etcd's peer URLs, which the prune Job reads to change the membership and only an etcd member dials. */
const PEER_LIST = /\bDZUG_CLUSTER_MEMBERS$/;
const runsEtcd = (p: Pod) => p.containers.some((c) => /(^|\/)etcd$/.test(c.command?.[0] ?? ""));

function specFlows(r: Release): Flow[] {
  const out: Flow[] = [];
  for (const from of r.pods)
    for (const c of from.containers)
      for (const a of addressesIn(c)) {
        if (PEER_LIST.test(a.where) && !runsEtcd(from)) continue;
        const targets = resolve(r, a.host, a.port);
        if (targets === undefined && a.host.startsWith("dzug-"))
          throw new Error(`${from.owner} ${a.where} names ${a.host}:${a.port}, which resolves to no pod`);
        for (const t of targets ?? [])
          if (t.pod !== from)
            out.push({ from, to: t.pod, port: t.port, protocol: "TCP", why: `${from.owner} ${a.where}` });
      }
  return out;
}

function scrapeFlows(r: Release, world: World): Flow[] {
  const from = world.prometheus;
  const out: Flow[] = [];
  for (const to of r.pods)
    if (to.annotations["prometheus.io/scrape"] === "true")
      out.push({ from, to, port: Number(to.annotations["prometheus.io/port"]), protocol: "TCP", why: "annotations" });
  const labelled = (l: Record<string, string> | undefined, sel: Record<string, string>) =>
    Object.entries(sel).every(([k, v]) => l?.[k] === v);
  for (const m of r.objects) {
    if (m.kind === "ServiceMonitor")
      for (const svc of r.services.filter((s) => labelled(s.metadata.labels, m.spec.selector.matchLabels)))
        for (const ep of m.spec.endpoints)
          for (const t of serviceTargets(r, svc.metadata.name, { name: ep.port }))
            out.push({ from, to: t.pod, port: t.port, protocol: "TCP", why: `ServiceMonitor ${m.metadata.name}` });
    if (m.kind === "PodMonitor")
      for (const to of r.pods.filter((p) => labelled(p.labels, m.spec.selector.matchLabels)))
        for (const ep of m.spec.podMetricsEndpoints) {
          const port = namedPort(to, ep.port);
          if (port) out.push({ from, to, port, protocol: "TCP", why: `PodMonitor ${m.metadata.name}` });
        }
  }
  return out;
}

/** Every connection the release needs, deduplicated. */
export function neededFlows(r: Release, world: World): Flow[] {
  const out = [...routeFlows(r, world), ...callFlows(r), ...specFlows(r), ...scrapeFlows(r, world)];
  const postgres = podsOf(r, "postgresql");
  for (const from of r.pods) {
    for (const protocol of ["UDP", "TCP"] as const) out.push({ from, to: world.dns, port: 53, protocol, why: "DNS" });
    if (env(from, "DZUG_DATABASE_URL")) {
      for (const to of postgres)
        out.push({ from, to, port: namedPort(to, "postgresql") as number, protocol: "TCP", why: "database" });
      if (postgres.length === 0)
        out.push({ from, to: world.externalDatabase, port: 5432, protocol: "TCP", why: "external database" });
    }
    for (const name of ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]) {
      const value = env(from, name)?.value;
      if (!value) continue;
      const url = new URL(value);
      const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
      out.push({ from, to: world.otlpCollector(url.hostname), port, protocol: "TCP", why: name });
    }
  }
  return dedupe(out);
}

function dedupe(flows: Flow[]): Flow[] {
  const seen = new Map<string, Flow>();
  for (const f of flows) {
    const key = `${f.from.name} ${f.to.name} ${f.port} ${f.protocol}`;
    if (!seen.has(key)) seen.set(key, f);
  }
  return [...seen.values()];
}
