// A real PostgreSQL server for tests: initdb into a temp dir, a free loopback port, trust auth,
// fsync off; `newDatabase()` hands each suite a fresh database. Runs as `postgres` when we are root
// (PostgreSQL refuses to run as root).
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { freePort } from "./ports.ts";
import { waitFor } from "./wait.ts";

const INSTALL_HINT = "install PostgreSQL server binaries with `apt-get install -y postgresql` (Debian)";

/** The directory holding initdb/pg_ctl: /usr/lib/postgresql/<newest>/bin, else `pg_config --bindir`. */
export function postgresBinDir(): string {
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, "bin", "initdb")))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return join(root, versions[0], "bin");
  }
  const found = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" });
  const dir = found.status === 0 ? found.stdout.trim() : "";
  if (dir !== "" && existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl"))) return dir;
  throw new Error(`PostgreSQL server binaries (initdb, pg_ctl) not found: ${INSTALL_HINT}`);
}

interface PgUser {
  uid: number;
  gid: number;
}

function postgresUser(): PgUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync("id", [flag, "postgres"], { encoding: "utf8" });
  const uid = id("-u");
  const gid = id("-g");
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(`running as root but there is no \`postgres\` user to run PostgreSQL as: ${INSTALL_HINT}`);
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

export class PostgresProcess {
  readonly dir: string;
  readonly port: number;
  readonly #bin: string;
  readonly #user: PgUser | undefined;
  #running = false;
  #dbCounter = 0;

  private constructor(dir: string, port: number, bin: string, user: PgUser | undefined) {
    this.dir = dir;
    this.port = port;
    this.#bin = bin;
    this.#user = user;
  }

  static async start(): Promise<PostgresProcess> {
    const bin = postgresBinDir();
    const user = postgresUser();
    const dir = mkdtempSync(join(tmpdir(), "dzug-pg-"));
    if (user) chownSync(dir, user.uid, user.gid);
    chmodSync(dir, 0o700);
    const port = await freePort();
    const server = new PostgresProcess(dir, port, bin, user);
    try {
      server.#exec("initdb", [
        "-D",
        server.dataDir,
        "--auth=trust",
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--no-sync",
        "--locale=C",
      ]);
      server.#exec("pg_ctl", [
        "-D",
        server.dataDir,
        "-l",
        server.logFile,
        "-w",
        "-t",
        "30",
        "-o",
        [
          `-p ${port}`,
          `-k ${dir}`,
          "-c listen_addresses=127.0.0.1",
          "-c fsync=off",
          "-c synchronous_commit=off",
          "-c full_page_writes=off",
          "-c shared_buffers=16MB",
          "-c max_connections=100",
        ].join(" "),
        "start",
      ]);
      server.#running = true;
      process.once("exit", server.#onExit);
      await waitFor(
        async () => {
          const client = new pg.Client({ connectionString: server.urlFor("postgres") });
          await client.connect();
          try {
            await client.query("select 1");
          } finally {
            await client.end();
          }
          return true;
        },
        { timeoutMs: 20_000, message: `postgres accepting connections on 127.0.0.1:${port}` },
      );
      await server.#admin(`create database dzug`);
    } catch (err) {
      const log = server.log();
      await server.destroy();
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- postgres log ---\n${log}`);
    }
    return server;
  }

  get dataDir(): string {
    return join(this.dir, "data");
  }

  get logFile(): string {
    return join(this.dir, "postgres.log");
  }

  /** postgres://postgres@127.0.0.1:PORT/dzug */
  get url(): string {
    return this.urlFor("dzug");
  }

  urlFor(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** Creates a fresh, empty database and returns its URL. */
  async newDatabase(prefix = "t"): Promise<string> {
    const name = `${prefix}_${process.pid}_${++this.#dbCounter}`;
    await this.#admin(`create database "${name}"`);
    return this.urlFor(name);
  }

  log(): string {
    try {
      return readFileSync(this.logFile, "utf8").slice(-10_000);
    } catch {
      return "";
    }
  }

  async #admin(statement: string): Promise<void> {
    const client = new pg.Client({ connectionString: this.urlFor("postgres") });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  }

  #exec(tool: string, args: string[]): void {
    const path = join(this.#bin, tool);
    const [cmd, argv] = this.#user ? ["runuser", ["-u", "postgres", "--", path, ...args]] : [path, args];
    const res = spawnSync(cmd, argv, { encoding: "utf8", cwd: this.dir, timeout: 60_000 });
    if (res.error) throw new Error(`${tool} could not run: ${res.error.message}`);
    if (res.status !== 0) throw new Error(`${tool} failed (${res.status}): ${res.stderr || res.stdout}`);
  }

  /** A test process that exits without destroy() (a crash, a cancelled run) leaves no server behind. */
  readonly #onExit = (): void => {
    if (!this.#running) return;
    this.#running = false;
    try {
      this.#exec("pg_ctl", ["-D", this.dataDir, "-m", "immediate", "-w", "-t", "10", "stop"]);
    } catch {
      // best effort
    }
    rmSync(this.dir, { recursive: true, force: true });
  };

  /** Stops the server (fast shutdown, then immediate) and removes its directory. */
  async destroy(): Promise<void> {
    process.removeListener("exit", this.#onExit);
    if (this.#running) {
      this.#running = false;
      try {
        this.#exec("pg_ctl", ["-D", this.dataDir, "-m", "fast", "-w", "-t", "10", "stop"]);
      } catch {
        try {
          this.#exec("pg_ctl", ["-D", this.dataDir, "-m", "immediate", "-w", "-t", "10", "stop"]);
        } catch {
          // Nothing more to do: the directory goes anyway.
        }
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
