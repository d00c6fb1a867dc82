// Debian's nginx as a reverse proxy standing in for ingress-nginx: a child process with its own prefix
// and config in a temp dir, a free port, upstream keep-alive as ingress-nginx uses it, and reloads with
// a new upstream list (what the controller does when endpoints change).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.ts";
import { waitFor } from "./wait.ts";

export function nginxBinary(): string {
  for (const p of ["/usr/sbin/nginx", "nginx"]) if (spawnSync(p, ["-v"]).status === 0) return p;
  throw new Error("nginx is not installed: `apt-get install -y nginx` (Debian)");
}

export class Nginx {
  readonly dir: string;
  readonly port: number;
  #child: ChildProcess | undefined;

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
  }

  static async start(upstreams: number[]): Promise<Nginx> {
    const n = new Nginx(mkdtempSync(join(tmpdir(), "dzug-nginx-")), await freePort());
    n.#write(upstreams);
    n.#child = spawn(nginxBinary(), ["-p", n.dir, "-c", join(n.dir, "nginx.conf")], { stdio: "ignore" });
    await waitFor(
      async () => {
        if (n.#child?.exitCode !== null) throw new Error(`nginx exited:\n${n.errorLog()}`);
        return (await fetch(`${n.url}/openapi.json`)).ok;
      },
      { message: "nginx proxying" },
    );
    return n;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  #write(upstreams: number[]): void {
    const servers = upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=0;`).join("\n");
    // As ingress-nginx: HTTP/1.1 keep-alive to the upstreams, retries only for idempotent requests.
    writeFileSync(
      join(this.dir, "nginx.conf"),
      `${process.getuid?.() === 0 ? "user root;\n" : ""}daemon off;
worker_processes 1;
pid ${join(this.dir, "nginx.pid")};
error_log ${join(this.dir, "error.log")} warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${join(this.dir, "body")};
  proxy_temp_path ${join(this.dir, "proxy")};
  fastcgi_temp_path ${join(this.dir, "fastcgi")};
  uwsgi_temp_path ${join(this.dir, "uwsgi")};
  scgi_temp_path ${join(this.dir, "scgi")};
  upstream gateway {
${servers}
    keepalive 32;
  }
  # No keep-alive towards the test clients: a reload closes an old worker's idle client connections, and a
  # request racing that close would fail in the client, not in what is under test (the upstreams).
  keepalive_timeout 0;
  server {
    listen 127.0.0.1:${this.port};
    location / {
      proxy_pass http://gateway;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout;
    }
  }
}
`,
    );
  }

  /** New upstream list, then `nginx -s reload` (new workers; old ones finish their requests). */
  reload(upstreams: number[]): void {
    this.#write(upstreams);
    const r = spawnSync(nginxBinary(), ["-p", this.dir, "-c", join(this.dir, "nginx.conf"), "-s", "reload"]);
    if (r.status !== 0) throw new Error(`nginx reload failed: ${r.stderr}\n${this.errorLog()}`);
  }

  errorLog(): string {
    try {
      return readFileSync(join(this.dir, "error.log"), "utf8");
    } catch {
      return "";
    }
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGQUIT");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
