/**
 * `tessera_tls_certificate_expiry_timestamp_seconds{flag}`: when each certificate a process
 * presents or trusts expires, so an alert can fire weeks ahead (`… - time() < 14 * 86400`),
 * and a warning at start for one that expires sooner than that. Files are read at start (a
 * renewed certificate takes effect, and is reported, at the next start).
 */
import type { Logger } from "./logger.js";
import type { MetricsRegistry } from "./metrics.js";

/** Below this much time left, the start logs a warning. */
const WARN_WITHIN_MS = 14 * 86_400_000;

export function reportCertificateExpiry(
  registry: MetricsRegistry,
  log: Logger,
  certificates: readonly {
    readonly flag: string;
    readonly path: string;
    readonly notAfter: number;
  }[],
  now: number = Date.now(),
): void {
  const gauge = registry.gauge<"flag">({
    name: "tessera_tls_certificate_expiry_timestamp_seconds",
    help: "When a certificate this process presents or trusts expires (unix seconds), by the flag naming its file",
    labelNames: ["flag"],
  });
  for (const c of certificates) {
    gauge.set({ flag: c.flag }, Math.floor(c.notAfter / 1000));
    if (c.notAfter - now < WARN_WITHIN_MS) {
      log.warn(
        { flag: c.flag, path: c.path, expires: new Date(c.notAfter).toISOString() },
        "certificate expires in less than 14 days",
      );
    }
  }
}
