// The auth keeper's readiness (the chart's readinessProbe of each etcd pod's `auth` container): 200 once the
// keeper has seen client auth on, 503 with the reason otherwise. A member whose cluster is open (auth not yet
// enabled, or enabling it failing: a bad Secret, no root) stays NotReady with that reason instead of counting as
// a working member.
import { createServer, type Server } from "node:http";

export class AuthStatus {
  #ready = false;
  #reason = "the auth keeper has not checked etcd yet";

  get ready(): boolean {
    return this.#ready;
  }

  get reason(): string {
    return this.#reason;
  }

  on(): void {
    this.#ready = true;
    this.#reason = "etcd client auth is on";
  }

  off(reason: string): void {
    this.#ready = false;
    this.#reason = reason;
  }
}

/** Serves GET /readyz on host:port; resolves once listening. */
export async function serveAuthStatus(status: AuthStatus, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== "GET" || req.url !== "/readyz") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(status.ready ? 200 : 503, { "content-type": "text/plain; charset=utf-8" });
    res.end(`${status.reason}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
