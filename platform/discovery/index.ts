// platform/discovery: registration in etcd, watching, per-instance channels, balancing and retries.
export { type BackoffOptions, backoffDelay } from "../backoff.ts";
export { type Balancer, createBalancer, type StrategyName, strategyNames } from "./balancing/balancer.ts";
export { entryStateName, type PoolEntry } from "./balancing/entry.ts";
export { defaultChannelOptions, InstancePool } from "./balancing/pool.ts";
export {
  type DeadlineCallOptions,
  failedBeforeServer,
  isRetryable,
  NOT_SENT_DETAILS,
} from "./call-rules.ts";
export { type ClientOptions, createBalancedClient } from "./client.ts";
export {
  BALANCING_DEFAULTS,
  type BalancingOptions,
  Discovery,
  type DiscoveryOptions,
  type PoolSnapshot,
} from "./discovery.ts";
export { type DiscoveryMetrics, discoveryMetrics } from "./metrics.ts";
export { createEtcdClient, etcdClientOptions, watchBackoff } from "./registry/etcd-options.ts";
export {
  decodeRecord,
  encodeRecord,
  type InstanceRecord,
  instanceKey,
  instanceRecordSchema,
  newInstanceId,
  serviceDir,
} from "./registry/record.ts";
export { Registrar, type RegistrarOptions } from "./registry/registrar.ts";
export { ServiceWatcher, type ServiceWatcherEvents, type ServiceWatcherOptions } from "./registry/watcher.ts";
export { DEFAULT_TRANSPORT, type TransportName, transportNames } from "./transport/transport.ts";
