// One HTTP/2 connection to one instance for the `http2` transport (h2-call.ts makes the calls): what a
// grpc-js channel does for the pool, over node:http2 directly. Opened when the instance appears;
// reconnected with jittered backoff when it closes (at once after a connection that was up, e.g. a
// GOAWAY); keepalive pings while calls are in flight, as grpc-js does by default; closed for good
// when the instance leaves (in-flight streams finish first). Its state uses grpc-js' connectivity
// names so the pool treats both transports alike (TRANSIENT_FAILURE: skipped while others work).
// What grpc-js sets on its own sessions is set here too: no session memory cap (Node's 10 MB refuses
// new streams with ENHANCE_YOUR_CALM once a few large answers are buffered), a flow-control window
// sized for multi-MiB answers (HTTP/2's 64 KiB default costs a round trip per 64 KiB), and keepalive
// back-off when the server answers pings with a `too_many_pings` GOAWAY.
import { type ClientHttp2Session, connect, constants } from "node:http2";
import { type ChannelOptions, connectivityState } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { type BackoffOptions, backoffDelay } from "../../backoff.ts";

/** What the session takes from the pool's grpc-js channel options (the same numbers for both transports). */
export interface H2SessionOptions {
  backoff: BackoffOptions;
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  maxReceiveMessageLength: number;
  /** Largest request message sent; -1: no limit (grpc-js' default). */
  maxSendMessageLength: number;
  /** HTTP/2 receive window per stream and for the connection, in bytes. */
  flowControlWindow: number;
}

/**
 * The receive window when `grpc-node.flow_control_window` is not set: a 4 MiB answer arrives without
 * waiting for a WINDOW_UPDATE (HTTP/2's 64 KiB default would take ~64 round trips for it).
 */
export const DEFAULT_FLOW_CONTROL_WINDOW = 4 * 1024 * 1024;
/** HTTP/2's largest window (2^31 - 1). */
const MAX_WINDOW = 2 ** 31 - 1;
/** grpc-js' ceiling for a doubled keepalive interval (its KEEPALIVE_MAX_TIME_MS). */
const KEEPALIVE_MAX_TIME_MS = 2 ** 31 - 1;
/** The GOAWAY debug data a gRPC server sends when pings come too often. */
const TOO_MANY_PINGS = Buffer.from("too_many_pings");

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
    maxSendMessageLength: num("grpc.max_send_message_length", -1),
    flowControlWindow: Math.min(MAX_WINDOW, num("grpc-node.flow_control_window", DEFAULT_FLOW_CONTROL_WINDOW)),
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
  /** The keepalive interval now: the configured one, doubled after each `too_many_pings` GOAWAY. */
  keepaliveTimeMs: number;
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
    this.keepaliveTimeMs = options.keepaliveTimeMs;
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
    const window = this.options.flowControlWindow;
    const s = connect(`http://${this.address}`, {
      settings: { enablePush: false, initialWindowSize: window },
      // As grpc-js: the session's buffered data is bounded by flow control and the message limits.
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
    });
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
      // The connection-level window: initialWindowSize above sizes each stream's.
      if (window > 65_535) s.setLocalWindowSize(window);
      this.state = connectivityState.READY;
      this.log.debug("connected");
    });
    s.on("error", (err: Error) => {
      this.lastError = err.message;
    });
    s.once("goaway", (code: number, lastStreamID: number, data?: Buffer) => {
      refusedFrom.set(s, lastStreamID);
      if (code === constants.NGHTTP2_ENHANCE_YOUR_CALM && data?.equals(TOO_MANY_PINGS)) this.backOffKeepalive();
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

  /** The server found our pings too frequent: ping half as often from now on (as grpc-js does). */
  private backOffKeepalive(): void {
    clearInterval(this.keepaliveTimer);
    this.keepaliveTimeMs = Math.min(KEEPALIVE_MAX_TIME_MS, this.keepaliveTimeMs * 2);
    this.log.warn({ keepaliveTimeMs: this.keepaliveTimeMs }, "too_many_pings GOAWAY: keepalive interval doubled");
    if (this.state !== connectivityState.SHUTDOWN) this.startKeepalive();
  }

  /** Pings each connection every keepaliveTimeMs while calls are in flight; no ack in time drops it. */
  private startKeepalive(): void {
    const { keepaliveTimeMs } = this;
    const { keepaliveTimeoutMs } = this.options;
    if (keepaliveTimeMs >= KEEPALIVE_MAX_TIME_MS) return;
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
