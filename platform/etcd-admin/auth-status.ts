// The auth keeper's readiness (the chart's readinessProbe of each etcd pod's `auth` container): 200 once the
// keeper has seen client auth on, 503 with the reason otherwise. A member whose cluster is open (auth not yet
// enabled, or enabling it failing: a bad Secret, no root) stays NotReady with that reason instead of counting as
// a working member.
import { createServer, type Server } from "node:http";
import { listenOn } from "../listen.ts";
import { MEMBER_STATE_PATH, type MemberState } from "./cluster-marker.ts";

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

export interface StatusRoutes {
  /** GET /readyz: the keeper's readiness. */
  ready?: AuthStatus;
  /** GET /dzug/member: whether this pod has seen a cluster (cluster-marker.ts). */
  member?: () => MemberState;
}

/** Serves the pod's status port (member-init while it decides, then the keeper); resolves once listening. */
export async function serveStatus(host: string, port: number, routes: StatusRoutes): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/readyz" && routes.ready) {
      res.writeHead(routes.ready.ready ? 200 : 503, { "content-type": "text/plain; charset=utf-8" });
      res.end(`${routes.ready.reason}\n`);
    } else if (req.method === "GET" && req.url === MEMBER_STATE_PATH && routes.member) {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(routes.member()));
    } else {
      res.writeHead(404).end();
    }
  });
  await listenOn(server, port, host);
  return server;
}
