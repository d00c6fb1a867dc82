// prom-client helpers: one Registry per process, passed explicitly (never prom-client's global default).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export function createMetricsRegistry(labels: { service: string; instance: string }): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ dzug_service: labels.service, dzug_instance: labels.instance });
  collectDefaultMetrics({ register: registry });
  return registry;
}

type Conf<T extends string> = { name: string; help: string; labelNames: readonly T[] };

function existing<M>(registry: Registry, name: string): M | undefined {
  return registry.getSingleMetric(name) as M | undefined;
}

/** The counter of this name on this registry, created on first use. */
export function counter<T extends string>(registry: Registry, conf: Conf<T>): Counter<T> {
  return existing<Counter<T>>(registry, conf.name) ?? new Counter({ ...conf, registers: [registry] });
}

/** The gauge of this name on this registry, created on first use. */
export function gauge<T extends string>(registry: Registry, conf: Conf<T>): Gauge<T> {
  return existing<Gauge<T>>(registry, conf.name) ?? new Gauge({ ...conf, registers: [registry] });
}

export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** The histogram of this name on this registry (latency buckets unless given), created on first use. */
export function histogram<T extends string>(registry: Registry, conf: Conf<T> & { buckets?: number[] }): Histogram<T> {
  return (
    existing<Histogram<T>>(registry, conf.name) ??
    new Histogram({ buckets: LATENCY_BUCKETS, ...conf, registers: [registry] })
  );
}
