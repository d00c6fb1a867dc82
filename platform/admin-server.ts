// The admin HTTP listener of a service process: /metrics, /healthz (alive), /readyz (ready to serve).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { listenOn } from "./listen.ts";

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startAdminServer(opts: {
  host: string;
  port: number;
  registry: Registry;
  /** Why the process is not ready, or undefined when it is. */
  notReadyReason: () => string | undefined;
}): Promise<AdminServer> {
  const server: Server = createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    };
    if (req.method !== "GET" && req.method !== "HEAD") return json(405, { error: "method not allowed" });
    if (path === "/metrics") {
      try {
        const text = await opts.registry.metrics();
        res.writeHead(200, { "content-type": opts.registry.contentType }).end(text);
      } catch (err) {
        json(500, { error: (err as Error).message });
      }
      return;
    }
    if (path === "/healthz" || path === "/livez") return json(200, { status: "ok" });
    if (path === "/readyz") {
      const reason = opts.notReadyReason();
      return reason === undefined ? json(200, { status: "ready" }) : json(503, { status: "not ready", reason });
    }
    json(404, { error: "not found" });
  });
  server.keepAliveTimeout = 65_000;
  await listenOn(server, opts.port, opts.host);
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
