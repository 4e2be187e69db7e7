import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { MetricNameError } from "./errors.js";

/** Every Tessera metric name starts with this prefix (DESIGN.md: Observability). */
export const METRIC_PREFIX = "tessera_";

const NAME_RE = /^[a-z][a-z0-9_]*$/;

/** `work_items_total` → `tessera_work_items_total`; an already prefixed name is kept. */
export function metricName(name: string): string {
  const bare = name.startsWith(METRIC_PREFIX) ? name.slice(METRIC_PREFIX.length) : name;
  if (!NAME_RE.test(bare)) throw new MetricNameError(name);
  return METRIC_PREFIX + bare;
}

export interface MetricsRegistryOptions {
  /** Collect prom-client's default process/runtime metrics (default true), prefixed tessera_. */
  defaultMetrics?: boolean;
  /** Labels added to every metric, e.g. { service: "agent", node: "agent-1" }. */
  defaultLabels?: Record<string, string>;
}

interface MetricSpec<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
}

/** A prom-client Registry plus helpers that enforce the `tessera_` prefix. */
export interface MetricsRegistry {
  readonly registry: Registry;
  counter<L extends string = string>(spec: MetricSpec<L>): Counter<L>;
  /** `collect` runs on every scrape (prom-client), e.g. to read a size kept elsewhere. */
  gauge<L extends string = string>(
    spec: MetricSpec<L> & { collect?: (this: Gauge<L>) => void },
  ): Gauge<L>;
  histogram<L extends string = string>(spec: MetricSpec<L> & { buckets?: number[] }): Histogram<L>;
  /** Prometheus text exposition (for GET /metrics). */
  metrics(): Promise<string>;
  readonly contentType: string;
}

export function createMetricsRegistry(options: MetricsRegistryOptions = {}): MetricsRegistry {
  // A private registry per service instance: tests and multi-service processes never collide
  // on prom-client's global registry.
  const registry = new Registry();
  if (options.defaultLabels) registry.setDefaultLabels(options.defaultLabels);
  if (options.defaultMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return {
    registry,
    counter: (spec) =>
      new Counter({
        ...spec,
        name: metricName(spec.name),
        labelNames: spec.labelNames ?? [],
        registers: [registry],
      }),
    gauge: (spec) =>
      new Gauge({
        ...spec,
        name: metricName(spec.name),
        labelNames: spec.labelNames ?? [],
        registers: [registry],
      }),
    histogram: (spec) =>
      new Histogram({
        ...spec,
        name: metricName(spec.name),
        labelNames: spec.labelNames ?? [],
        registers: [registry],
      }),
    metrics: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
