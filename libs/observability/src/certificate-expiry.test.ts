import { describe, expect, it, vi } from "vitest";
import { reportCertificateExpiry } from "./certificate-expiry.js";
import type { Logger } from "./logger.js";
import { createMetricsRegistry } from "./metrics.js";

describe("reportCertificateExpiry", () => {
  it("exports each certificate's expiry by flag and warns for one within 14 days", async () => {
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const warn = vi.fn();
    const now = Date.parse("2026-12-07T00:00:00Z");
    reportCertificateExpiry(
      registry,
      { warn } as unknown as Logger,
      [
        { flag: "api-tls-cert", path: "/s/tls.crt", notAfter: now + 90 * 86_400_000 },
        { flag: "nats-tls-ca", path: "/s/ca.crt", notAfter: now + 3 * 86_400_000 },
      ],
      now,
    );
    const text = await registry.metrics();
    expect(text).toContain(
      `tessera_tls_certificate_expiry_timestamp_seconds{flag="api-tls-cert"} ${(now + 90 * 86_400_000) / 1000}`,
    );
    expect(text).toContain(
      `tessera_tls_certificate_expiry_timestamp_seconds{flag="nats-tls-ca"} ${(now + 3 * 86_400_000) / 1000}`,
    );
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toMatchObject({ flag: "nats-tls-ca", path: "/s/ca.crt" });
  });
});
