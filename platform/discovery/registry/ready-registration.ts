// Registration that follows readiness: an instance that cannot serve (its database down) leaves etcd,
// so every caller's discovery drops it (client-side balancing means Kubernetes readiness alone would
// not), and registers again once it can. A Registrar is one-shot, so each return makes a new one.
import type { Logger } from "pino";
import type { Registrar } from "./registrar.ts";

export class ReadyRegistration {
  private current: Registrar | undefined;
  private stopped = false;
  private readonly make: () => Registrar;
  private readonly log: Logger;

  constructor(make: () => Registrar, logger: Logger) {
    this.make = make;
    this.log = logger;
  }

  /** Registers (retrying in the background); resolves at the first success. */
  start(): Promise<void> {
    this.current = this.make();
    return this.current.start();
  }

  get registered(): boolean {
    return this.current?.registered ?? false;
  }

  /** Called periodically with why the instance cannot serve (undefined: it can). */
  follow(problem: string | undefined): void {
    if (this.stopped) return;
    if (problem !== undefined && this.current) {
      const leaving = this.current;
      this.current = undefined;
      this.log.warn({ reason: problem }, "not ready: deregistering until ready again");
      void leaving.stop();
    } else if (problem === undefined && !this.current) {
      this.log.info("ready again: registering");
      this.current = this.make();
      this.current.start().catch(() => undefined); // stopped before it registered
    }
  }

  /** Deregisters for good (shutdown). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.current?.stop();
  }
}
