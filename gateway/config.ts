// The gateway's configuration: the shared sections (docs/architecture.md) plus optional per-service
// balancing overrides (`services.<name>.strategy`, e.g. DZUG_SERVICES_USER_STRATEGY=round-robin).
import { z } from "zod";
import {
  adminSection,
  authSection,
  balancerSection,
  discoverySection,
  etcdSection,
  httpSection,
  listsSection,
  logSection,
  shutdownSection,
  strategy,
} from "../platform/config-schema.ts";
import { overloadSection } from "../platform/overload.ts";
import { rateLimitSection } from "./rate-limit.ts";
import { UPSTREAM_NAMES, type UpstreamName } from "./upstreams.ts";

const serviceOverride = z.strictObject({ strategy: strategy.optional() }).prefault({});
const serviceOverrides = Object.fromEntries(UPSTREAM_NAMES.map((svc) => [svc, serviceOverride])) as Record<
  UpstreamName,
  typeof serviceOverride
>;

// The shared sections already default when absent (`.prefault({})`); auth still requires jwtSecret.
export const gatewayConfigSchema = z.strictObject({
  log: logSection,
  etcd: etcdSection,
  discovery: discoverySection,
  balancer: balancerSection,
  services: z.strictObject(serviceOverrides).prefault({}),
  shutdown: shutdownSection,
  http: httpSection,
  admin: adminSection,
  auth: authSection,
  rateLimit: rateLimitSection,
  overload: overloadSection,
  /** Follow/follower/friend lists streamed at once (gateway/streamed-list.ts). */
  lists: listsSection,
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
