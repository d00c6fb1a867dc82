// What the apps are given (clients, token verifier, discovery view, metrics): everything injected, so
// tests run them with in-process fakes; server.ts wires the real ones.
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { PoolSnapshot } from "../platform/discovery/index.ts";
import type { LoadShedder } from "../platform/overload.ts";
import type { DeviceTokens } from "./device.ts";
import type { RateLimits } from "./rate-limit.ts";
import type { Upstreams } from "./upstreams.ts";

export type { PoolSnapshot };

/** What the gateway reads of platform/discovery's Discovery (structurally; tests pass a fake). */
export interface DiscoveryView {
  snapshot(): PoolSnapshot[];
}

export interface TokenVerifier {
  /** The token's user id; throws DomainError UNAUTHENTICATED (TOKEN_INVALID / TOKEN_EXPIRED). */
  verify(token: string): Promise<number>;
}

export interface GatewayDeps extends Upstreams {
  tokens: TokenVerifier;
  logger: Logger;
  metrics: Registry;
  bodyLimitBytes: number;
  /** True once a graceful stop began: API connections are not kept alive (admin.ts' /readyz answers 503). */
  shuttingDown?: () => boolean;
  /** Install the OpenTelemetry SERVER-span middleware (when tracing is enabled). */
  tracing?: boolean;
  /** Rate limits of register, login and (optionally) every API request; none when absent. */
  rateLimits?: RateLimits;
  /** Device tokens of register/login (gateway/device.ts); none when absent. */
  devices?: DeviceTokens;
  /** Load shedding of API requests (config overload.*); none when absent. */
  shedder?: LoadShedder;
  /** Login/register requests in flight per client address (config rateLimit.credentialsInFlightPerAddress); 0/absent: no bound. */
  credentialsInFlightPerAddress?: number;
  /** Login/register requests in flight without a device token, this gateway (config rateLimit.credentialsInFlight); 0/absent: no bound. */
  credentialsInFlight?: number;
  /** Lists streaming at once (config lists.maxConcurrentStreams); DEFAULT_LIST_STREAMS when absent. */
  maxConcurrentListStreams?: number;
  /** Express' `trust proxy` (config http.trustProxy): false unless proxies in front are trusted. */
  trustProxy?: boolean | number | string | ((addr: string, i: number) => boolean);
}
