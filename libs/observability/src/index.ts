/** @tessera/observability: pino JSON logs (optionally shipped to NATS) and prom-client metrics,
 * and the signal-to-clean-stop lifecycle every process shares. */
export { reportCertificateExpiry } from "./certificate-expiry.js";
export { MetricNameError } from "./errors.js";
export {
  type LifecycleLog,
  type RunServiceOptions,
  runUntilSignal,
  type ServiceMainOptions,
  serviceMain,
} from "./lifecycle.js";
export { type LogPublisher, LogShipper } from "./log-shipper.js";
export {
  createLogger,
  type LogContext,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  withContext,
} from "./logger.js";
export { METRIC_NAMES, type MetricNameKey } from "./metric-names.js";
export {
  createMetricsRegistry,
  METRIC_PREFIX,
  type MetricsRegistry,
  type MetricsRegistryOptions,
  metricName,
} from "./metrics.js";
export { reportTileBufferMalloc } from "./tile-buffer-malloc.js";
