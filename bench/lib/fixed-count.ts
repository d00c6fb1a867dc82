// Drives exactly `requests` GETs of one URL over `connections` keep-alive connections and checks every
// answer (status 200, the expected body), for measurements per request that must not depend on time
// (bench/instructions.ts). Returns when every request has been answered.
import { Agent, request } from "node:http";

export async function driveFixedCount(o: {
  url: string;
  requests: number;
  connections: number;
  expectBody: string;
}): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections });
  const url = new URL(o.url);
  let issued = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        { agent, host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, timeout: 600_000 },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => {
            body += c;
          });
          res.on("end", () => {
            if (res.statusCode === 200 && body === o.expectBody) resolve();
            else reject(new Error(`unexpected answer ${res.statusCode}: ${body.slice(0, 300)}`));
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("request timed out")));
      req.on("error", reject);
      req.end();
    });
  const worker = async () => {
    while (issued < o.requests) {
      issued++;
      await one();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(o.connections, o.requests) }, worker));
  } finally {
    agent.destroy();
  }
}
