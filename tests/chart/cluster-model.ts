// The pods a rendered release runs, as the NetworkPolicy evaluator (netpol-eval.ts) sees them, and how the
// addresses its specs name (Service names, StatefulSet member DNS names) resolve to pods and container ports.
// One pod per Deployment and Job, every replica of a StatefulSet (etcd members talk to each other), every
// helm test Pod. Pod addresses are made up (10.244.0.0/16); nothing here needs a cluster.
import type { K8sObject } from "./helpers.ts";
import type { ContainerPort, Endpoint, NetworkPolicy } from "./netpol-eval.ts";

export interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: ContainerPort[];
}

export interface Pod extends Endpoint {
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  ports: ContainerPort[];
  /** The workload it belongs to, e.g. "StatefulSet/dzug-etcd". */
  owner: string;
  /** Init containers and containers: what runs in the pod and opens connections. */
  containers: Container[];
  hostname?: string;
  subdomain?: string;
}

export interface Release {
  namespace: string;
  pods: Pod[];
  services: K8sObject[];
  policies: NetworkPolicy[];
  objects: K8sObject[];
}

/** Port of `pod` by container port name, or undefined. */
export function namedPort(pod: Pod, name: string): number | undefined {
  return pod.ports.find((p) => p.name === name)?.containerPort;
}

export function component(pod: Endpoint): string | undefined {
  return pod.labels?.["app.kubernetes.io/component"];
}

/** The release's pods, Services and NetworkPolicies from its rendered objects. */
export function releaseOf(objects: K8sObject[], namespace: string): Release {
  const pods: Pod[] = [];
  const add = (owner: string, name: string, template: any, extra: Partial<Pod> = {}) => {
    const spec = template.spec;
    const containers: Container[] = [...(spec.initContainers ?? []), ...spec.containers];
    pods.push({
      name,
      namespace,
      ip: `10.244.${Math.floor(pods.length / 250)}.${(pods.length % 250) + 2}`,
      labels: { ...(template.metadata?.labels ?? {}) },
      annotations: { ...(template.metadata?.annotations ?? {}) },
      ports: spec.containers.flatMap((c: Container) => c.ports ?? []),
      owner,
      containers,
      ...extra,
    });
  };
  for (const o of objects) {
    const owner = `${o.kind}/${o.metadata.name}`;
    if (o.kind === "Deployment" || o.kind === "Job") add(owner, `${o.metadata.name}-pod`, o.spec.template);
    else if (o.kind === "Pod") add(owner, o.metadata.name, o);
    else if (o.kind === "StatefulSet") {
      for (let i = 0; i < (o.spec.replicas ?? 1); i++) {
        const name = `${o.metadata.name}-${i}`;
        add(owner, name, o.spec.template, { hostname: name, subdomain: o.spec.serviceName });
      }
    }
  }
  return {
    namespace,
    pods,
    services: objects.filter((o) => o.kind === "Service"),
    policies: objects.filter((o) => o.kind === "NetworkPolicy") as unknown as NetworkPolicy[],
    objects,
  };
}

function selects(selector: Record<string, string> | undefined, pod: Pod): boolean {
  return selector !== undefined && Object.entries(selector).every(([k, v]) => pod.labels[k] === v);
}

/** Container port of `pod` that a Service's targetPort (name or number) names. */
function targetPort(pod: Pod, target: number | string): number | undefined {
  return typeof target === "number" ? target : namedPort(pod, target);
}

export interface Target {
  pod: Pod;
  port: number;
}

/**
 * The pods and container ports behind `host:port` as a pod of the release would dial it: a Service
 * (`svc`, `svc.ns`, `svc.ns.svc[.domain]`) or a StatefulSet member (`pod.headless.ns.svc[.domain]`).
 * undefined when the host names nothing of the release.
 */
export function resolve(release: Release, host: string, port: number): Target[] | undefined {
  const parts = host.replace(/\.$/, "").split(".");
  const inNs = (i: number) =>
    parts.length <= i || (parts[i] === release.namespace && (parts[i + 1] ?? "svc") === "svc");
  const svc = release.services.find((s) => s.metadata.name === parts[0]);
  if (svc && inNs(1)) {
    const sp = (svc.spec.ports ?? []).find((p: { port: number }) => p.port === port);
    if (!sp) return [];
    return release.pods
      .filter((p) => selects(svc.spec.selector, p))
      .map((pod) => ({ pod, port: targetPort(pod, sp.targetPort ?? sp.port) as number }))
      .filter((t) => t.port !== undefined);
  }
  const member = release.pods.find((p) => p.hostname === parts[0] && p.subdomain === parts[1]);
  if (member && parts.length >= 3 && inNs(2)) return [{ pod: member, port }];
  return undefined;
}

/** Every `host:port` a container's command, args and env values name (URLs, --flag=host:port, shell text). */
export function addressesIn(c: Container): { host: string; port: number; where: string }[] {
  const texts: [string, string][] = [
    ...[...(c.command ?? []), ...(c.args ?? [])].map((t): [string, string] => [`${c.name} args`, t]),
    ...(c.env ?? []).filter((e) => e.value).map((e): [string, string] => [`${c.name} ${e.name}`, e.value as string]),
  ];
  const out: { host: string; port: number; where: string }[] = [];
  for (const [where, text] of texts) {
    for (const m of text.matchAll(/(?:^|[\s=,/@"'])([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?):(\d{1,5})\b/g)) {
      out.push({ host: m[1] as string, port: Number(m[2]), where });
    }
  }
  return out;
}
