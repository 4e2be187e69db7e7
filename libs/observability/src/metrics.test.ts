import { describe, expect, it } from "vitest";
import { createMetricsRegistry, METRIC_NAMES, MetricNameError, metricName } from "./index.js";

describe("metrics", () => {
  it("prefixes names with tessera_ and rejects malformed names", () => {
    expect(metricName("work_items_total")).toBe("tessera_work_items_total");
    expect(metricName("tessera_x")).toBe("tessera_x");
    expect(() => metricName("Bad-Name")).toThrow(MetricNameError);
  });

  it("exposes custom and default metrics in Prometheus text format", async () => {
    const m = createMetricsRegistry({ defaultLabels: { service: "agent" } });
    const items = m.counter({
      name: "agent_work_items_total",
      help: "items",
      labelNames: ["kind"],
    });
    items.inc({ kind: "map" }, 3);
    const text = await m.metrics();
    expect(text).toContain('tessera_agent_work_items_total{kind="map",service="agent"} 3');
    expect(text).toContain("tessera_process_cpu_user_seconds_total");
    expect(m.contentType).toContain("text/plain");
  });

  it("keeps registries independent (no global-registry collisions)", () => {
    const a = createMetricsRegistry({ defaultMetrics: false });
    const b = createMetricsRegistry({ defaultMetrics: false });
    a.gauge({ name: "x", help: "x" });
    expect(() => b.gauge({ name: "x", help: "x" })).not.toThrow();
  });

  it("lists only tessera_-prefixed common names", () => {
    for (const name of Object.values(METRIC_NAMES)) expect(name).toMatch(/^tessera_[a-z0-9_]+$/);
  });
});
