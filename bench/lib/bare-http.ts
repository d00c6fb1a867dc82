// Benchmark configuration (b): a bare node:http server answering every request with a fixed JSON body
// (the gateway's answer to the benchmarked request, passed in BENCH_BODY). The floor for "HTTP in,
// JSON out" on the machine the benchmark runs on.
//
//   BENCH_BODY='{"status_code":0,…}' BENCH_PORT=… node bench/lib/bare-http.ts
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

const body = Buffer.from(process.env.BENCH_BODY ?? '{"status_code":0,"status_msg":"success"}');
const server = createServer({ keepAliveTimeout: 65_000 }, (_req, res) => {
  res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": body.length });
  res.end(body);
});
server.listen(Number(process.env.BENCH_PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.on("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
