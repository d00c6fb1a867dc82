// Client addresses as the field groups them (IPv6 by /64, IPv4-mapped folded to IPv4) and which
// peers may name the client in X-Forwarded-For (a list of addresses/CIDRs, a bounded number of hops).
import assert from "node:assert/strict";
import { test } from "node:test";
import { clientKey, proxyListProblem, trustedProxies } from "../../platform/client-address.ts";

test("clientKey: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64", () => {
  const cases: Array<[string, string]> = [
    ["203.0.113.7", "203.0.113.7"],
    ["::ffff:203.0.113.7", "203.0.113.7"],
    ["::FFFF:10.0.0.1", "10.0.0.1"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:db8:1:2::9", "2001:db8:1:2::/64"],
    ["2001:0db8:0001:0002:ffff::", "2001:db8:1:2::/64"],
    ["2001:db8:1:3::9", "2001:db8:1:3::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["64:ff9b::203.0.113.7", "64:ff9b:0:0::/64"],
    ["unknown", "unknown"],
  ];
  for (const [addr, key] of cases) assert.equal(clientKey(addr), key, addr);
  // Privacy extensions rotate the low 64 bits: every address of one /64 is one client.
  const keys = new Set(Array.from({ length: 1000 }, (_, i) => clientKey(`2001:db8:aa:bb:${i.toString(16)}:1:2:3`)));
  assert.deepEqual([...keys], ["2001:db8:aa:bb::/64"]);
});

test("trustedProxies: only listed peers, only for the configured hops; bad lists are named", () => {
  const one = trustedProxies("loopback,10.0.0.0/8", 1);
  assert.equal(one("127.0.0.1", 0), true);
  assert.equal(one("::ffff:127.0.0.1", 0), true, "an IPv4-mapped peer is its IPv4 address");
  assert.equal(one("::1", 0), true);
  assert.equal(one("10.9.8.7", 0), true);
  assert.equal(one("127.0.0.1", 1), false, "a second hop is not trusted with hops 1");
  assert.equal(one("192.168.1.1", 0), false);
  assert.equal(one("203.0.113.7", 0), false);
  const two = trustedProxies("10.0.0.0/8", 2);
  assert.equal(two("10.0.0.1", 1), true);
  assert.equal(two("10.0.0.1", 2), false);
  assert.equal(proxyListProblem("loopback, 10.244.0.0/16, fd00::/8, 192.0.2.1"), undefined);
  assert.match(proxyListProblem("loopbak") ?? "", /"loopbak" is not an address, a CIDR or one of loopback/);
  assert.match(proxyListProblem("10.0.0.0/33") ?? "", /prefix must be 0..32/);
});
