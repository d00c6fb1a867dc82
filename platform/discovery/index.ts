// platform/discovery: registration in etcd, watching, per-instance channels, balancing and retries.
export { type BackoffOptions, backoffDelay } from "../backoff.ts";
export { type Balancer, createBalancer, type StrategyName, strategyNames } from "./balancer.ts";
export {
  type ClientOptions,
  createBalancedClient,
  type DeadlineCallOptions,
  failedBeforeServer,
  isRetryable,
  NOT_SENT_DETAILS,
} from "./client.ts";
export {
  BALANCING_DEFAULTS,
  type BalancingOptions,
  Discovery,
  type DiscoveryOptions,
  type PoolSnapshot,
} from "./discovery.ts";
export { createEtcdClient, etcdClientOptions, watchBackoff } from "./etcd-options.ts";
export { type DiscoveryMetrics, discoveryMetrics } from "./metrics.ts";
export { defaultChannelOptions, entryStateName, InstancePool, type PoolEntry } from "./pool.ts";
export {
  decodeRecord,
  encodeRecord,
  type InstanceRecord,
  instanceKey,
  instanceRecordSchema,
  newInstanceId,
  serviceDir,
} from "./record.ts";
export { Registrar, type RegistrarOptions } from "./registrar.ts";
export { DEFAULT_TRANSPORT, type TransportName, transportNames } from "./transport.ts";
export { ServiceWatcher, type ServiceWatcherEvents, type ServiceWatcherOptions } from "./watcher.ts";
