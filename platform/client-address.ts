// Who a client is, as the field groups addresses: an IPv6 client by its /64 (one subscriber, one LAN:
// RFC 6177 hands out /64s and larger, privacy extensions rotate the low 64 bits at will), an
// IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket reports for IPv4 peers) as the
// IPv4 address it is. And which peers may name the client in X-Forwarded-For: only proxies whose own
// address is in a configured list, and only as many hops as configured (the chart: the ingress
// controller, one hop), so a client cannot invent addresses and a chain of private hops cannot hide it.
import { BlockList, isIPv4, isIPv6 } from "node:net";

const MAPPED = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

/** The eight 16-bit groups of an IPv6 address (a valid one, as node:net reports it), or undefined. */
function ipv6Groups(addr: string): number[] | undefined {
  const zone = addr.indexOf("%");
  let a = zone >= 0 ? addr.slice(0, zone) : addr;
  // An embedded IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) as two groups.
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(a);
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number];
    a = `${a.slice(0, v4.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head, tail] = a.split("::") as [string, string | undefined];
  const h = head === "" ? [] : head.split(":");
  const t = tail === undefined || tail === "" ? [] : tail.split(":");
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const groups = [...h, ...Array<string>(Math.max(0, fill)).fill("0"), ...t].map((g) => Number.parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

/**
 * The key a client's limits are kept under: an IPv4 address as it is; an IPv4-mapped IPv6 address as
 * its IPv4 address; any other IPv6 address as its /64 ("2001:db8:1:2::/64"). Anything else (no
 * address: a test socket) as given.
 */
export function clientKey(addr: string): string {
  const mapped = MAPPED.exec(addr);
  if (mapped) return mapped[1] as string;
  if (isIPv4(addr) || !isIPv6(addr.replace(/%.*$/, ""))) return addr;
  const g = ipv6Groups(addr);
  if (!g) return addr;
  return `${g
    .slice(0, 4)
    .map((x) => x.toString(16))
    .join(":")}::/64`;
}

/** Named ranges http.trustProxy accepts besides addresses and CIDRs (the names Express uses). */
const NAMED: Readonly<Record<string, readonly string[]>> = {
  loopback: ["127.0.0.0/8", "::1/128"],
  linklocal: ["169.254.0.0/16", "fe80::/10"],
  uniquelocal: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
};

/** Why `list` (comma-separated addresses, CIDRs and named ranges) is not a proxy list, or undefined. */
export function proxyListProblem(list: string): string | undefined {
  try {
    proxyBlockList(list);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function proxyBlockList(list: string): BlockList {
  const b = new BlockList();
  for (const raw of list.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    for (const cidr of NAMED[entry] ?? [entry]) {
      const [addr = "", bits] = cidr.split("/");
      const type = isIPv4(addr) ? "ipv4" : isIPv6(addr) ? "ipv6" : undefined;
      if (!type) throw new Error(`"${entry}" is not an address, a CIDR or one of ${Object.keys(NAMED).join(", ")}`);
      const max = type === "ipv4" ? 32 : 128;
      const prefix = bits === undefined ? max : Number(bits);
      if (!/^\d+$/.test(bits ?? "0") || prefix > max) throw new Error(`"${entry}": prefix must be 0..${max}`);
      b.addSubnet(addr, prefix, type);
    }
  }
  return b;
}

/**
 * Express' `trust proxy` as a function: the peer at distance `i` (0: the TCP peer, then the
 * X-Forwarded-For entries from the right) is a trusted proxy when `i < hops` and its address is in
 * `list`. So with hops 1 the client is the last X-Forwarded-For entry, the one the trusted proxy
 * wrote, and only when the TCP peer is that proxy; anything a client wrote further left is ignored.
 */
export function trustedProxies(list: string, hops: number): (addr: string, i: number) => boolean {
  const b = proxyBlockList(list);
  return (addr, i) => {
    if (i >= hops) return false;
    const mapped = MAPPED.exec(addr);
    if (mapped) return b.check(mapped[1] as string, "ipv4");
    if (isIPv4(addr)) return b.check(addr, "ipv4");
    return isIPv6(addr) && b.check(addr, "ipv6");
  };
}
