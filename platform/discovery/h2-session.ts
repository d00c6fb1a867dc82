// One HTTP/2 connection to one instance for the `http2` transport (h2-call.ts makes the calls): what a
// grpc-js channel does for the pool, over node:http2 directly. Opened when the instance appears;
// reconnected with jittered backoff when it closes (at once after a connection that was up, e.g. a
// GOAWAY); keepalive pings while calls are in flight, as grpc-js does by default; closed for good
// when the instance leaves (in-flight streams finish first). Its state uses grpc-js' connectivity
// names so the pool treats both transports alike (TRANSIENT_FAILURE: skipped while others work).
import { type ClientHttp2Session, connect } from "node:http2";
import { type ChannelOptions, connectivityState } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { type BackoffOptions, backoffDelay } from "../backoff.ts";

/** What the session takes from the pool's grpc-js channel options (the same numbers for both transports). */
export interface H2SessionOptions {
  backoff: BackoffOptions;
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  maxReceiveMessageLength: number;
}

export function h2SessionOptions(o: ChannelOptions): H2SessionOptions {
  const num = (key: string, fallback: number) => (typeof o[key] === "number" ? (o[key] as number) : fallback);
  return {
    backoff: {
      initialMs: num("grpc.initial_reconnect_backoff_ms", 1_000),
      maxMs: num("grpc.max_reconnect_backoff_ms", 120_000),
    },
    keepaliveTimeMs: num("grpc.keepalive_time_ms", 2 ** 31 - 1),
    keepaliveTimeoutMs: num("grpc.keepalive_timeout_ms", 20_000),
    maxReceiveMessageLength: num("grpc.max_receive_message_length", 4 * 1024 * 1024),
  };
}

const CONNECT_TIMEOUT_MS = 20_000;

/** Per session that got a GOAWAY: the last stream id the server says it processed. */
const refusedFrom = new WeakMap<ClientHttp2Session, number>();

/** True when `session` got a GOAWAY saying stream `id` was never processed by the server. */
export function refusedByGoaway(session: ClientHttp2Session, id: number | undefined): boolean {
  const lastProcessed = refusedFrom.get(session);
  return lastProcessed !== undefined && id !== undefined && id > lastProcessed;
}

export class H2Session {
  readonly address: string;
  readonly options: H2SessionOptions;
  state: connectivityState = connectivityState.CONNECTING;
  /** Why the last connection attempt failed or the last connection ended (for error details). */
  lastError = "";
  private current: ClientHttp2Session | undefined;
  private failures = 0;
  private active = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(address: string, options: H2SessionOptions, log: Logger) {
    this.address = address;
    this.options = options;
    this.log = log.child({ component: "h2-session", address });
    this.connect();
    this.startKeepalive();
  }

  /**
   * The connection to start a stream on: connected, or connecting (the stream waits for it); undefined
   * in TRANSIENT_FAILURE (calls fail at once, as grpc-js' do without wait-for-ready) or SHUTDOWN.
   */
  usable(): ClientHttp2Session | undefined {
    if (this.state === connectivityState.TRANSIENT_FAILURE) return undefined;
    const s = this.current;
    return s !== undefined && !s.closed && !s.destroyed ? s : undefined;
  }

  /** A call starts (h2-call.ts); keepalive pings only while calls are in flight. */
  acquire(): void {
    this.active++;
  }

  release(): void {
    this.active--;
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    // A failure is sticky until a connection is up (as grpc-js' pick_first): retries after a backoff
    // stay in TRANSIENT_FAILURE, so the pool keeps skipping the instance meanwhile.
    if (this.state !== connectivityState.TRANSIENT_FAILURE) this.state = connectivityState.CONNECTING;
    const s = connect(`http://${this.address}`, { settings: { enablePush: false } });
    this.current = s;
    // The socket never keeps the process alive: a call in flight does, by its deadline timer.
    s.unref();
    let upSince: number | undefined;
    // A peer that never answers the SYN: give up after grpc-js' minimum connect timeout.
    const connectTimer = setTimeout(() => {
      this.lastError = `connect timeout after ${CONNECT_TIMEOUT_MS} ms`;
      s.destroy();
    }, CONNECT_TIMEOUT_MS);
    connectTimer.unref();
    s.once("close", () => clearTimeout(connectTimer));
    s.once("connect", () => {
      clearTimeout(connectTimer);
      if (this.current !== s) return;
      upSince = performance.now();
      this.state = connectivityState.READY;
      this.log.debug("connected");
    });
    s.on("error", (err: Error) => {
      this.lastError = err.message;
    });
    s.once("goaway", (code: number, lastStreamID: number) => {
      refusedFrom.set(s, lastStreamID);
      this.lastError = `GOAWAY (code ${code})`;
      // No new stream on it: the next call goes to a new connection; its own streams finish.
      this.detach(s, upSince);
    });
    s.once("close", () => this.detach(s, upSince));
  }

  /**
   * `s` takes no more calls: reconnect at once after a connection that was up a while (e.g. a
   * GOAWAY), else after a backoff (also for a peer that accepts and drops at once: no busy loop).
   */
  private detach(s: ClientHttp2Session, upSince: number | undefined): void {
    if (this.current !== s) return;
    this.current = undefined;
    if (this.state === connectivityState.SHUTDOWN) return;
    if (upSince !== undefined && performance.now() - upSince >= this.options.backoff.initialMs) {
      this.failures = 0;
      this.reconnect();
      return;
    }
    this.state = connectivityState.TRANSIENT_FAILURE;
    const delay = backoffDelay(this.options.backoff, this.failures++);
    this.log.debug({ err: this.lastError, retryInMs: Math.round(delay) }, "connection failed");
    this.reconnectTimer = setTimeout(() => this.reconnect(), delay);
    this.reconnectTimer.unref();
  }

  /** connect() from a timer: a throw there would be uncaught, so it becomes a failed attempt. */
  private reconnect(): void {
    try {
      this.connect();
    } catch (err) {
      this.lastError = (err as Error).message;
      this.current = undefined;
      this.state = connectivityState.TRANSIENT_FAILURE;
      this.reconnectTimer = setTimeout(() => this.reconnect(), backoffDelay(this.options.backoff, this.failures++));
      this.reconnectTimer.unref();
    }
  }

  /** Pings each connection every keepaliveTimeMs while calls are in flight; no ack in time drops it. */
  private startKeepalive(): void {
    const { keepaliveTimeMs, keepaliveTimeoutMs } = this.options;
    if (keepaliveTimeMs >= 2 ** 31 - 1) return;
    this.keepaliveTimer = setInterval(() => {
      const s = this.current;
      if (!s || this.active === 0 || this.state !== connectivityState.READY) return;
      const timeout = setTimeout(() => {
        this.lastError = `keepalive ping not acknowledged within ${keepaliveTimeoutMs} ms`;
        s.destroy();
      }, keepaliveTimeoutMs);
      timeout.unref();
      try {
        const sent = s.ping((err) => {
          clearTimeout(timeout);
          if (err) s.destroy();
        });
        if (!sent) clearTimeout(timeout);
      } catch {
        clearTimeout(timeout); // the session was being destroyed: its close reconnects
      }
    }, keepaliveTimeMs);
    this.keepaliveTimer.unref();
  }

  /** For good: no reconnect; the connection closes once its in-flight streams end. */
  close(): void {
    this.state = connectivityState.SHUTDOWN;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.keepaliveTimer);
    const s = this.current;
    this.current = undefined;
    s?.close();
  }
}
