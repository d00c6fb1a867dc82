// Listening on every address (platform/listen.ts): `::` takes IPv4 and IPv6 clients on one socket;
// where the host has no IPv6 the bind falls back to 0.0.0.0, and only then.
import assert from "node:assert/strict";
import { connect, createServer, type Server } from "node:net";
import { test } from "node:test";
import { ANY_HOST, bindHost, ipv6Unavailable, listenOn } from "../../platform/listen.ts";

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once("connect", () => resolve(s.destroy() !== undefined));
    s.once("error", () => resolve(false));
  });
}

const close = (s: Server) => new Promise((resolve) => s.close(resolve));

test("the default host takes IPv4 and IPv6 clients on one socket", async () => {
  const server = createServer((s) => s.end());
  await listenOn(server, 0, ANY_HOST);
  try {
    const { port, address } = server.address() as { port: number; address: string };
    assert.equal(address, "::");
    assert.equal(await reachable("127.0.0.1", port), true, "IPv4 client");
    assert.equal(await reachable("::1", port), true, "IPv6 client");
  } finally {
    await close(server);
  }
});

test("without IPv6, :: falls back to 0.0.0.0 and says so; bracketed :: too", async () => {
  for (const host of ["::", "[::]"]) {
    const tried: string[] = [];
    const fallbacks: unknown[] = [];
    const bound = await bindHost(
      host,
      async (h) => {
        tried.push(h);
        if (h !== "0.0.0.0")
          throw Object.assign(new Error(`listen EAFNOSUPPORT: address family not supported ${h}`), {
            code: "EAFNOSUPPORT",
          });
        return h;
      },
      (err) => fallbacks.push(err),
    );
    assert.equal(bound, "0.0.0.0");
    assert.deepEqual(tried, [host, "0.0.0.0"]);
    assert.equal(fallbacks.length, 1);
  }
});

test("grpc-js' wrapped message counts as no IPv6; a port in use or another host is not retried", async () => {
  // grpc-js reports a failed bind as a message, the errno inside it.
  assert.equal(ipv6Unavailable(new Error("No address added out of total 1 resolved: listen EADDRNOTAVAIL")), true);
  assert.equal(ipv6Unavailable(Object.assign(new Error("in use"), { code: "EADDRINUSE" })), false);

  const taken = createServer();
  await listenOn(taken, 0, ANY_HOST);
  try {
    const { port } = taken.address() as { port: number };
    const second = createServer();
    await assert.rejects(listenOn(second, port, ANY_HOST), { code: "EADDRINUSE" });
    const tried: string[] = [];
    await assert.rejects(
      bindHost("127.0.0.1", async (h) => {
        tried.push(h);
        throw Object.assign(new Error("no"), { code: "EADDRNOTAVAIL" });
      }),
    );
    assert.deepEqual(tried, ["127.0.0.1"], "an explicit host is bound as given");
  } finally {
    await close(taken);
  }
});
