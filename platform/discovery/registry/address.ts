// The address of an instance record (`host:port`), checked strictly: a record is written by whoever can
// write under the service's etcd prefix, and every caller dials what it says. So a record's address is
// either an IP literal (IPv4 dotted quad, or IPv6 in brackets: `[::1]:50051`) or a DNS name of RFC 1123
// labels, then a port 1–65535, and nothing else: no spaces, no userinfo, no path, no zone id.
//
// Refused even when well formed: addresses no instance is ever reached at, and the link-local ranges
// (169.254.0.0/16, fe80::/10, also IPv4-mapped) that hold the cloud metadata services. A record pointing
// callers at 169.254.169.254 would make every gateway an SSRF proxy to the node's credentials; nothing
// in a cluster serves gRPC on a link-local address, so the ranges are refused outright (no option).
// A DNS name that resolves to such an address is not caught here: the etcd accounts that may write
// under a prefix (per-service auth in the chart) and the NetworkPolicies are the guard for that.
import { BlockList, isIPv4, isIPv6 } from "node:net";

/** Well-known metadata endpoints outside the link-local ranges (AWS' IPv6 one, GCP's names). */
const METADATA_HOSTS: ReadonlySet<string> = new Set(["fd00:ec2::254", "metadata.google.internal", "metadata.goog"]);

const refused = new BlockList();
refused.addSubnet("169.254.0.0", 16, "ipv4"); // link-local, cloud metadata (169.254.169.254)
refused.addSubnet("0.0.0.0", 8, "ipv4"); // "this network": 0.0.0.0 dials the caller itself
refused.addSubnet("224.0.0.0", 4, "ipv4"); // multicast
refused.addAddress("255.255.255.255", "ipv4");
refused.addSubnet("fe80::", 10, "ipv6"); // link-local
refused.addSubnet("ff00::", 8, "ipv6"); // multicast
refused.addAddress("::", "ipv6"); // unspecified
refused.addSubnet("::ffff:169.254.0.0", 112, "ipv6"); // IPv4-mapped link-local
refused.addSubnet("::ffff:0.0.0.0", 104, "ipv6");

/** One RFC 1123 label: letters, digits, inner hyphens, 1–63 characters. */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

export interface HostPort {
  /** Without brackets: `::1`, `10.0.0.5`, `user.dzug.svc`. */
  host: string;
  port: number;
}

/** Why the IP literal `host` (IPv6 without brackets) cannot be an instance's host, or undefined. */
function ipProblem(host: string, family: "ipv4" | "ipv6"): string | undefined {
  if (refused.check(host, family) || METADATA_HOSTS.has(host.toLowerCase()))
    return `${host} is link-local, unspecified, multicast or a metadata address`;
  return undefined;
}

/**
 * Why `host` cannot be advertised or dialled, or undefined: an IPv4 dotted quad, an IPv6 literal
 * (bare, as here, or bracketed: see parseAddress) or a DNS name.
 */
export function hostProblem(host: string): string | undefined {
  if (isIPv4(host)) return ipProblem(host, "ipv4");
  if (host.includes(":")) {
    if (host.includes("%")) return `${host}: an IPv6 zone id is not allowed`;
    return isIPv6(host) ? ipProblem(host, "ipv6") : `${host} is not an IPv6 address`;
  }
  if (host.length > 253) return "a DNS name is at most 253 characters";
  const labels = host.split(".");
  if (!labels.every((l) => LABEL.test(l)))
    return `${JSON.stringify(host)} is neither an IP address nor a DNS name (letters, digits, hyphens, dots)`;
  // All digits in the last label: a mistyped IPv4 address (999.1.1.1, 1.2.3), not a name.
  if (/^\d+$/.test(labels[labels.length - 1] as string)) return `${host} is not a valid IPv4 address`;
  if (METADATA_HOSTS.has(host.toLowerCase())) return `${host} is a metadata address`;
  return undefined;
}

const HOST_PORT = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/;

/** `host:port` or `[ipv6]:port`, checked as the file header says; a reason when it is not. */
export function parseAddress(address: string): { ok: true; value: HostPort } | { ok: false; reason: string } {
  const m = HOST_PORT.exec(address);
  // A bare IPv6 literal (`::1:50051`) fails here: a host without brackets holds no colon.
  if (!m) return { ok: false, reason: "must be host:port (IPv6 in brackets: [::1]:50051)" };
  const [, bracketed, plain, portText] = m;
  const host = bracketed ?? plain ?? "";
  if (bracketed !== undefined && !isIPv6(bracketed))
    return { ok: false, reason: `[${bracketed}] is not an IPv6 address` };
  const problem = hostProblem(host);
  if (problem) return { ok: false, reason: problem };
  const port = Number(portText);
  if (!(port >= 1 && port <= 65535)) return { ok: false, reason: `port ${portText} is not in 1-65535` };
  return { ok: true, value: { host, port } };
}

/** Why `address` is not a dialable instance address, or undefined. */
export function addressProblem(address: string): string | undefined {
  const r = parseAddress(address);
  return r.ok ? undefined : r.reason;
}

/** `host` without the brackets of a bracketed IPv6 literal (`[::1]` -> `::1`); anything else as is. */
export function unbracket(host: string): string {
  const inner = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : undefined;
  return inner !== undefined && isIPv6(inner) ? inner : host;
}

/** `host:port`, an IPv6 literal in brackets (a pod IP from the downward API comes bare). */
export function joinHostPort(host: string, port: number): string {
  const bare = unbracket(host);
  return isIPv6(bare) ? `[${bare}]:${port}` : `${bare}:${port}`;
}
