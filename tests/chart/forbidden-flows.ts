// The connections the policies must refuse: from the ingress controller and the Gateway proxies to anything but
// the gateway's API port (the services, the admin/metrics ports, etcd, PostgreSQL); to etcd's peer port from
// anything but etcd members; between services that do not call each other; from Prometheus to anything but
// metrics ports; from a stranger pod of the namespace to any port but the API's; and, where egress policies
// select a pod, from it to the internet.
import { serviceCalls } from "../../scripts/lib/chart-services.ts";
import { component, namedPort, type Pod, type Release } from "./cluster-model.ts";
import { type Flow, podsOf, type World } from "./flows.ts";
import { REPO_ROOT } from "./helpers.ts";
import type { Endpoint } from "./netpol-eval.ts";

const tcp = (from: Endpoint, to: Pod, portName: string, why: string): Flow[] => {
  const port = namedPort(to, portName);
  return port === undefined ? [] : [{ from, to, port, protocol: "TCP", why }];
};

/** Every port of the release but the gateway's API port. */
function internalPorts(r: Release, from: Endpoint, why: string): Flow[] {
  return r.pods.flatMap((to) =>
    to.ports
      .filter((p) => !(component(to) === "gateway" && p.name === "http"))
      .map((p): Flow => ({ from, to, port: p.containerPort, protocol: "TCP", why })),
  );
}

export function forbiddenFlows(r: Release, world: World, entrances: Endpoint[]): Flow[] {
  const out: Flow[] = [];
  for (const from of entrances) out.push(...internalPorts(r, from, "an entrance reaches only the API port"));
  // The API port is public by design (the ingress serves it to anyone); everything else is not.
  const stranger = world.stranger(r.namespace);
  out.push(...internalPorts(r, stranger, "a stranger pod of the namespace"));
  const etcd = podsOf(r, "etcd");
  for (const from of [...r.pods.filter((p) => component(p) !== "etcd"), ...entrances, world.prometheus, stranger])
    for (const to of etcd) out.push(...tcp(from, to, "peer", "etcd's peer port is for members only"));
  for (const to of r.pods)
    for (const p of to.ports.filter((x) => x.name !== "metrics"))
      out.push({ from: world.prometheus, to, port: p.containerPort, protocol: "TCP", why: "Prometheus scrapes only" });
  const calls = serviceCalls(REPO_ROOT);
  for (const a of calls)
    for (const b of calls)
      if (a !== b && !a.calls.includes(b.name))
        for (const from of podsOf(r, a.name))
          for (const to of podsOf(r, b.name)) out.push(...tcp(from, to, "grpc", `${a.name} does not call ${b.name}`));
  for (const from of podsOf(r, "gateway"))
    for (const to of podsOf(r, "postgresql")) out.push(...tcp(from, to, "postgresql", "the gateway has no database"));
  const egressIsolated = (p: Pod) =>
    r.policies.some(
      (np) =>
        np.spec.policyTypes?.includes("Egress") &&
        Object.entries(np.spec.podSelector.matchLabels ?? {}).every(([k, v]) => p.labels[k] === v),
    );
  for (const from of r.pods.filter(egressIsolated))
    for (const port of [443, 80, 5432])
      out.push({ from, to: world.internet, port, protocol: "TCP", why: "egress: nothing beyond what it needs" });
  return out;
}
