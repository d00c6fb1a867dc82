// A login flood from many loopback addresses, as a child process (so the test process that measures
// the real user's logins is not slowed by the flood's own work): `node tests/harness/address-flood.ts
// <url> <addresses> <connectionsEach> <ms>` sends, on every connection (a socket bound to 127.0.2.<n>),
// a wrong-password login as soon as the previous answer came back. Prints "on" once the first answer
// came back (the flood is on), then {sent, refused, failed} as JSON at the end.
import { Pool } from "undici";

const [url = "", addresses = "200", connectionsEach = "2", ms = "12000"] = process.argv.slice(2);
const until = Date.now() + Number(ms);
const counts = { sent: 0, refused: 0, failed: 0 };

async function connection(pool: Pool, n: number): Promise<void> {
  for (let i = 0; Date.now() < until; i++) {
    try {
      const res = await pool.request({
        method: "POST",
        path: "/douyin/user/login/",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: `username=victim-${(n + i) % 50}&password=wrong-password`,
        headersTimeout: 5_000,
        bodyTimeout: 5_000,
      });
      await res.body.dump();
      if (counts.sent++ === 0) process.stdout.write("on\n");
      if (res.statusCode !== 200) counts.refused++;
    } catch {
      counts.failed++;
    }
  }
}

const pools = Array.from(
  { length: Number(addresses) },
  (_, i) => new Pool(url, { connections: Number(connectionsEach), localAddress: `127.0.2.${i + 1}` }),
);
await Promise.all(
  pools.flatMap((p, i) => Array.from({ length: Number(connectionsEach) }, (_, c) => connection(p, i + c))),
);
await Promise.all(pools.map((p) => p.destroy()));
process.stdout.write(`${JSON.stringify(counts)}\n`);
