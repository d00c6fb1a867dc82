// Free loopback ports for the processes a test starts.
//
// Not port 0's answer: the kernel hands out ports from the ephemeral range (net.ipv4.ip_local_port_range),
// the same range every outgoing connection takes its local port from. A port picked that way and bound
// seconds later (an etcd member added mid-test, a relay reopened) can meanwhile be the local end of one
// of the many connections a load test opens: "bind: address already in use". Ports below the ephemeral
// range are never given to outgoing connections, so a port found free there stays free until used.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

const FLOOR = 10_000;

/** The ports the kernel never hands out on its own: [FLOOR, start of the ephemeral range). */
function quietRange(): { low: number; high: number } {
  let ephemeralLow = 32_768;
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (low !== undefined && Number.isInteger(low)) ephemeralLow = low;
  } catch {
    // not Linux: keep the usual default
  }
  if (ephemeralLow - FLOOR < 1_000) throw new Error(`ip_local_port_range starts at ${ephemeralLow}: no room below it`);
  return { low: FLOOR, high: ephemeralLow - 1 };
}

const range = quietRange();
/** Ports this process already handed out: never twice, even before the first is bound. */
const given = new Set<number>();

function bindable(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A port free on `host` (the loopback address the process will listen on: 127.0.0.1 or ::1). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = range.low + Math.floor(Math.random() * (range.high - range.low + 1));
    if (given.has(port)) continue;
    if (await bindable(port, host)) {
      given.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${range.low}-${range.high} after 200 tries`);
}

/**
 * `count` loopback addresses (127.A.B.1 .. 127.A.B.count, a random block) on each of which every one of
 * `ports` is free: for processes that listen on fixed ports side by side, as pods do (each has its own
 * IP; e.g. the chart's etcd members all use 2379/2380/2381). Linux routes all of 127.0.0.0/8 to lo.
 */
export async function loopbackAddresses(count: number, ports: number[]): Promise<string[]> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const block = `127.${16 + Math.floor(Math.random() * 224)}.${Math.floor(Math.random() * 256)}`;
    const ips = Array.from({ length: count }, (_, i) => `${block}.${i + 1}`);
    const checks = await Promise.all(ips.flatMap((ip) => ports.map((p) => bindable(p, ip))));
    if (checks.every(Boolean)) return ips;
  }
  throw new Error(`ports ${ports.join(", ")} are taken on every loopback block tried (something listens on 0.0.0.0?)`);
}

/** `host` as it goes in a URL or `host:port`: an IPv6 literal in brackets. */
export function urlHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
