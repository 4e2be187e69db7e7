/** Error catalogue of @tessera/observability. */

/** A metric name that does not follow the `tessera_[a-z0-9_]+` convention. */
export class MetricNameError extends Error {
  readonly code = "TESSERA_E_OBSERVABILITY_METRIC_NAME";
  constructor(readonly metric: string) {
    super(
      `metric name ${JSON.stringify(metric)}: must match ^[a-z][a-z0-9_]*$ (before the tessera_ prefix)`,
    );
    this.name = "MetricNameError";
  }
}
