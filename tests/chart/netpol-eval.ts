// A NetworkPolicy evaluator (networking.k8s.io/v1 semantics) for the chart tests: does a set of policies let
// one endpoint open a connection to another on a port?
//
// - A pod is isolated for ingress (egress) when at least one policy of its namespace selects it with
//   "Ingress" ("Egress") in its policyTypes; policyTypes defaults to Ingress, plus Egress when the policy
//   has egress rules. An isolated pod admits only what some rule of those policies allows (the union);
//   a pod no policy selects admits everything in that direction.
// - A connection needs both: the source's egress and the destination's ingress.
// - A rule with no (or empty) from/to matches every peer; with no (or empty) ports, every port.
// - Peers: podSelector alone = pods of the policy's namespace; namespaceSelector alone = every pod of the
//   matching namespaces; both = the matching pods in the matching namespaces; ipBlock = addresses in the CIDR
//   and in none of its exceptions (pod and node selectors never match a non-pod endpoint).
// - Ports: protocol defaults to TCP; a number (with endPort: a range) compares with the destination port; a
//   name is resolved against the destination pod's container ports (same name and protocol).
import { BlockList, isIPv6 } from "node:net";

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}

export interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface PolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicy {
  metadata: { name: string; namespace: string };
  spec: {
    podSelector: LabelSelector;
    policyTypes?: ("Ingress" | "Egress")[];
    ingress?: { from?: PolicyPeer[]; ports?: PolicyPort[] }[];
    egress?: { to?: PolicyPeer[]; ports?: PolicyPort[] }[];
  };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

/** A pod (namespace set) or an address outside the cluster's pods (namespace undefined). */
export interface Endpoint {
  name: string;
  ip: string;
  namespace?: string;
  labels?: Record<string, string>;
  ports?: ContainerPort[];
}

export function selectorMatches(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key] as string;
    const ok =
      e.operator === "In"
        ? has && (e.values ?? []).includes(value)
        : e.operator === "NotIn"
          ? !has || !(e.values ?? []).includes(value)
          : e.operator === "Exists"
            ? has
            : e.operator === "DoesNotExist"
              ? !has
              : undefined;
    if (ok === undefined) throw new Error(`unknown selector operator ${e.operator}`);
    if (!ok) return false;
  }
  return true;
}

function inCidr(ip: string, cidr: string): boolean {
  const [addr, bits] = cidr.split("/") as [string, string | undefined];
  const family = isIPv6(addr) ? "ipv6" : "ipv4";
  if (family !== (isIPv6(ip) ? "ipv6" : "ipv4")) return false;
  const list = new BlockList();
  list.addSubnet(addr, Number(bits ?? (family === "ipv6" ? 128 : 32)), family);
  return list.check(ip, family);
}

/** Namespace name -> its labels (every namespace carries kubernetes.io/metadata.name = its name). */
export type Namespaces = Map<string, Record<string, string>>;

function peerMatches(peer: PolicyPeer, policyNs: string, other: Endpoint, namespaces: Namespaces): boolean {
  if (peer.ipBlock) {
    if (peer.podSelector || peer.namespaceSelector) throw new Error("ipBlock cannot be combined with selectors");
    return inCidr(other.ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c) => inCidr(other.ip, c));
  }
  if (!peer.podSelector && !peer.namespaceSelector) throw new Error("a peer needs a selector or an ipBlock");
  if (other.namespace === undefined) return false;
  const nsLabels = namespaces.get(other.namespace) ?? { "kubernetes.io/metadata.name": other.namespace };
  if (peer.namespaceSelector ? !selectorMatches(peer.namespaceSelector, nsLabels) : other.namespace !== policyNs)
    return false;
  return !peer.podSelector || selectorMatches(peer.podSelector, other.labels ?? {});
}

function portMatches(ports: PolicyPort[] | undefined, port: number, protocol: string, dst: Endpoint): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? "TCP") !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === "number")
      return p.endPort === undefined ? p.port === port : p.port <= port && port <= p.endPort;
    return (dst.ports ?? []).some(
      (c) => c.name === p.port && (c.protocol ?? "TCP") === protocol && c.containerPort === port,
    );
  });
}

const typesOf = (p: NetworkPolicy) => p.spec.policyTypes ?? ["Ingress", ...(p.spec.egress ? ["Egress" as const] : [])];

function isolating(policies: NetworkPolicy[], pod: Endpoint, type: "Ingress" | "Egress"): NetworkPolicy[] {
  if (pod.namespace === undefined) return [];
  return policies.filter(
    (p) =>
      p.metadata.namespace === pod.namespace &&
      typesOf(p).includes(type) &&
      selectorMatches(p.spec.podSelector, pod.labels ?? {}),
  );
}

export interface Verdict {
  allowed: boolean;
  /** Why it is denied: the side that refuses and the policies isolating it. */
  reason: string;
}

/** Whether `src` may open a connection to `dst` on `port`/`protocol` under `policies`. */
export function evaluate(
  policies: NetworkPolicy[],
  namespaces: Namespaces,
  src: Endpoint,
  dst: Endpoint,
  port: number,
  protocol = "TCP",
): Verdict {
  const egress = isolating(policies, src, "Egress");
  const egressOk =
    egress.length === 0 ||
    egress.some((p) =>
      (p.spec.egress ?? []).some(
        (r) =>
          (!r.to?.length || r.to.some((peer) => peerMatches(peer, p.metadata.namespace, dst, namespaces))) &&
          portMatches(r.ports, port, protocol, dst),
      ),
    );
  if (!egressOk) return { allowed: false, reason: `egress of ${src.name} (${names(egress)})` };
  const ingress = isolating(policies, dst, "Ingress");
  const ingressOk =
    ingress.length === 0 ||
    ingress.some((p) =>
      (p.spec.ingress ?? []).some(
        (r) =>
          (!r.from?.length || r.from.some((peer) => peerMatches(peer, p.metadata.namespace, src, namespaces))) &&
          portMatches(r.ports, port, protocol, dst),
      ),
    );
  if (!ingressOk) return { allowed: false, reason: `ingress of ${dst.name} (${names(ingress)})` };
  return { allowed: true, reason: "" };
}

const names = (ps: NetworkPolicy[]) => ps.map((p) => p.metadata.name).join(", ");
