// The services the gateway calls: the one list. server.ts makes one balanced client per entry,
// config.ts takes a `services.<name>` override per entry, /readyz names those without an instance
// (degraded: their routes answer 503) and is ready while one has an instance (ops.ts).
import type { Client } from "nice-grpc";
import { MessageServiceDefinition } from "../proto/gen/dzug/message/v1/message.ts";
import { RelationServiceDefinition } from "../proto/gen/dzug/relation/v1/relation.ts";
import { UserServiceDefinition } from "../proto/gen/dzug/user/v1/user.ts";

export const UPSTREAMS = {
  user: UserServiceDefinition,
  relation: RelationServiceDefinition,
  message: MessageServiceDefinition,
} as const;

export type UpstreamName = keyof typeof UPSTREAMS;
export const UPSTREAM_NAMES = Object.keys(UPSTREAMS) as UpstreamName[];

/** One typed client per upstream service. */
export type Upstreams = { [K in UpstreamName]: Client<(typeof UPSTREAMS)[K]> };
