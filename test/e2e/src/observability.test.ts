// What an operator watching Grafana relies on: every process of a running cluster serves
// /metrics, and every metric the dashboards in grafana/dashboards/ chart is one the services
// actually export (a renamed metric would otherwise leave a panel silently empty). After a
// verified job, the numbers agree with the manifest.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { MatmulJobSpec } from "@tessera/matrix";
import { describe, expect, it } from "vitest";
import { referenceDigest, submitViaCli } from "./jobs.js";
import { expectVerified, startCluster, useClusterPerTest } from "./scenario.test-helpers.js";

const DASHBOARDS = join(dirname(fileURLToPath(import.meta.url)), "../../../grafana/dashboards");

interface Dashboard {
  uid: string;
  title: string;
  panels: { type: string; title: string; targets?: { expr: string }[] }[];
}

function dashboards(): Dashboard[] {
  return readdirSync(DASHBOARDS)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(join(DASHBOARDS, f), "utf8")) as Dashboard);
}

/** Metric families a Prometheus text page declares (`# TYPE name kind`). */
function families(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1] as string, m[2] as string);
  return out;
}

/** Sum of a family's samples whose labels include every `labels` pair. */
function sum(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) {
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return total;
}

describe("e2e: metrics behind the Grafana dashboards", () => {
  useClusterPerTest();

  it("every process serves /metrics, every charted metric exists, and the counts match the job", async () => {
    const spec: MatmulJobSpec = { n: 256, tile: 64, mode: "exact", seed: 5 };
    const cluster = await startCluster();
    const r = await submitViaCli(cluster, spec, "e2e-metrics").result;
    expectVerified(r, spec, referenceDigest(spec));

    const info = cluster.info;
    const scrape = async (base: string) => {
      const res = await fetch(`${base}/metrics`);
      expect(res.status, base).toBe(200);
      return res.text();
    };
    const peers = await Promise.all(info.peers.map((p) => scrape(p.http)));
    const agents = await Promise.all(info.agents.map((a) => scrape(a.http)));
    const scheduler = await scrape(info.scheduler.http);
    const storageManager = await scrape(info.storageManager.http);
    const all = new Map<string, string>();
    for (const text of [...peers, ...agents, scheduler, storageManager]) {
      for (const [name, kind] of families(text)) all.set(name, kind);
    }

    const charted = new Set<string>();
    for (const d of dashboards()) {
      expect(d.uid, "every dashboard has a uid").toMatch(/^[a-z0-9-]+$/);
      for (const p of d.panels.filter((x) => x.type !== "row")) {
        expect(p.targets?.length, `${d.title} / ${p.title} has a query`).toBeGreaterThan(0);
        for (const t of p.targets ?? []) {
          for (const m of t.expr.matchAll(/\btessera_[a-z0-9_]+/g)) charted.add(m[0]);
        }
      }
    }
    expect(charted.size).toBeGreaterThan(20);
    const missing = [...charted].filter((name) => {
      const base = name.replace(/_(bucket|sum|count)$/, "");
      return !all.has(name) && all.get(base) !== "histogram";
    });
    expect(missing, "charted in grafana/dashboards but exported by no process").toEqual([]);

    // The numbers agree with what the job did.
    const K = spec.n / spec.tile;
    const okItems = agents.map((t) => sum(t, "tessera_agent_work_items_total", { status: "ok" }));
    // Every task once at least; a speculative duplicate that also finished counts as an attempt.
    const ok = okItems.reduce((a, b) => a + b, 0);
    expect(ok).toBeGreaterThanOrEqual(K ** 3 + K ** 2);
    expect(ok).toBeLessThanOrEqual(r.attempts);
    // Every item reported once, straight to the leader here (one leader throughout); the work
    // the leader handed over is what the agents say they received.
    const reports = (path: string) =>
      agents.map((t) => sum(t, "tessera_agent_reports_total", { path })).reduce((a, b) => a + b, 0);
    expect(reports("direct") + reports("stream")).toBe(okItems.reduce((a, b) => a + b, 0));
    expect(reports("direct")).toBeGreaterThan(0);
    const handed = agents.map((t) => sum(t, "tessera_agent_handed_items_total"));
    const handedAttempts = peers
      .map((t) => sum(t, "tessera_consensus_handed_attempts_total"))
      .reduce((a, b) => a + b, 0);
    expect(handed.reduce((a, b) => a + b, 0)).toBe(handedAttempts);
    for (const text of peers) {
      expect(sum(text, "tessera_manifest_tasks_total", { state: "done" })).toBe(K ** 3 + K ** 2);
      expect(sum(text, "tessera_manifest_jobs_total", { state: "succeeded" })).toBe(1);
    }
    expect(peers.map((t) => sum(t, "tessera_raft_is_leader")).reduce((a, b) => a + b, 0)).toBe(1);
    expect(
      sum(storageManager, "tessera_storage_manager_jobs_verified_total", { result: "verified" }),
    ).toBe(1);
  });

  it("hands a dependent reduce to the agent before the map's report commits, and the commit confirms it", async () => {
    const cluster = await startCluster();
    // One map, one reduce: the scheduler arms the reduce while the map runs, and the map's
    // report starts it (services/consensus/src/fsm/README.md, "Armed reduces").
    for (let c = 0; c < 3; c++) {
      const spec: MatmulJobSpec = { n: 64, tile: 64, mode: "exact", seed: 20 + c };
      const r = await submitViaCli(cluster, spec, `e2e-early-${c}`).result;
      expectVerified(r, spec, referenceDigest(spec));
    }
    const peers = await Promise.all(
      cluster.info.peers.map(async (p) => (await fetch(`${p.http}/metrics`)).text()),
    );
    const total = (name: string, labels: Record<string, string> = {}) =>
      peers.map((t) => sum(t, name, labels)).reduce((a, b) => a + b, 0);
    const confirmed = total("tessera_consensus_early_handovers_total", { outcome: "confirmed" });
    expect(confirmed).toBeGreaterThanOrEqual(1);
    // Confirmed early work is work the manifest handed over: at most one per job here.
    expect(confirmed).toBeLessThanOrEqual(total("tessera_consensus_handed_attempts_total"));
    expect(total("tessera_consensus_handed_attempts_total")).toBeLessThanOrEqual(3);
  });
});
