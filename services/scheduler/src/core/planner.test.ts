import { describe, expect, it } from "vitest";
import { QUEUED_BATCHES_PER_NODE } from "./batching.js";
import { StorageBreaker } from "./breaker.js";
import { DurationStats } from "./deadlines.js";
import { ViewBuilder } from "./fixtures.test-helpers.js";
import {
  attemptKey,
  type Decision,
  type PlannerConfig,
  type PlannerInputs,
  partialsToReset,
  plan,
  RESCUE_AFTER_MS,
  RESCUE_WINDOW_MS,
  taskKey,
} from "./planner.js";
import { MAX_AUTO_PREFETCH } from "./prefetch.js";

const cfg: PlannerConfig = {
  retry: { baseMs: 500, maxMs: 30_000, factor: 2 },
  deadlines: {
    minSamples: 2,
    deadlineFactor: 4,
    minDeadlineMs: 100,
    initialDeadlineMs: 60_000,
    speculationFactor: 1.5,
    minSpeculationMs: 10,
  },
  placement: { policy: "least-loaded", pools: [], cooldownMs: 5_000 },
  prefetch: { fixed: 0 },
  dataLocation: undefined,
  maxStartsPerPass: 100,
  batchMaxTasks: 64,
  armReduces: false,
  unlistedAfterMs: 8_000,
};

function inputs(now: number, over: Partial<PlannerInputs> = {}): PlannerInputs {
  return {
    now,
    inflight: new Set(),
    runningOn: new Map(),
    durations: new DurationStats(),
    breaker: new StorageBreaker(),
    ...over,
  };
}
const starts = (ds: Decision[]) => ds.filter((d) => d.type === "start");
/** A breaker opened at time 0 by one storage outage, half-open after `cooldownMs`. */
function openBreaker(cooldownMs: number): StorageBreaker {
  const breaker = new StorageBreaker({
    threshold: 1,
    windowMs: 1000,
    cooldownMs,
    maxCooldownMs: cooldownMs,
  });
  breaker.recordFailure(0, "TESSERA_E_STORAGE_UNAVAILABLE: down");
  return breaker;
}

describe("planner", () => {
  it("starts no more attempts than the nodes have free slots, spread by the policy", () => {
    const b = new ViewBuilder().submit("j1", 128, 64).node("n1", 2).node("n2", 1);
    const p = plan(b.view, cfg, inputs(0));
    const s = starts(p.decisions);
    expect(s.map((d) => d.type === "start" && `${d.taskId}@${d.nodeId}`)).toEqual([
      "m-0-0-0@n1",
      "m-0-0-1@n2",
      "m-0-1-0@n1",
    ]);
    expect(
      s.every((d) => d.type === "start" && d.attempt === 1 && !d.speculative && d.pool === "cpu"),
    ).toBe(true);
    expect(p.blocked).toBe("every eligible node's slots are busy");
  });

  it("queues more attempts per node for short tasks than for long ones (prefetch auto)", () => {
    const auto: PlannerConfig = { ...cfg, prefetch: { windowMs: 50 } };
    const startsWith = (runMs: number | undefined) => {
      const runTimes = new DurationStats();
      if (runMs !== undefined) for (let i = 0; i < 3; i++) runTimes.add("j1", "map", runMs);
      // Commit-to-commit durations (round trip and queue included) do not set the allowance.
      const durations = new DurationStats();
      for (let i = 0; i < 3; i++) durations.add("j1", "map", 5_000);
      const b = new ViewBuilder().submit("j1", 128, 16).node("n1", 2);
      return starts(plan(b.view, auto, inputs(0, { durations, runTimes })).decisions).length;
    };
    expect(startsWith(undefined)).toBe(2 + 1); // nothing learned yet: one queued
    expect(startsWith(400)).toBe(2 + 1); // ceil(2 × 50 / 400) = 1
    expect(startsWith(40)).toBe(2 + 3); // ceil(2 × 50 / 40) = 3
    expect(startsWith(1)).toBe(2 + MAX_AUTO_PREFETCH); // ceil(2 × 50 / 1) = 100, capped
    // a fixed number is just that, whatever the durations
    const runTimes = new DurationStats();
    for (let i = 0; i < 3; i++) runTimes.add("j1", "map", 1);
    const b = new ViewBuilder().submit("j1", 128, 16).node("n1", 2);
    const fixed = { ...cfg, prefetch: { fixed: 2 } };
    expect(starts(plan(b.view, fixed, inputs(0, { runTimes })).decisions).length).toBe(4);
  });

  it("lets a node queue batches' worth of a batched (empty) job's starts, and one-task amounts otherwise", () => {
    const auto: PlannerConfig = { ...cfg, prefetch: { windowMs: 50 }, maxStartsPerPass: 10_000 };
    const startsFor = (mode: "exact" | "empty", batchMaxTasks: number) => {
      const runTimes = new DurationStats();
      for (let i = 0; i < 3; i++) runTimes.add("j1", "map", 1);
      const b = new ViewBuilder().submit("j1", 1024, 32, 4, 0, 1, mode).node("n1", 2);
      const c = { ...auto, batchMaxTasks };
      return starts(plan(b.view, c, inputs(0, { runTimes })).decisions).length;
    };
    expect(startsFor("empty", 64)).toBe(2 + QUEUED_BATCHES_PER_NODE * 64);
    expect(startsFor("empty", 1)).toBe(2 + MAX_AUTO_PREFETCH); // the batched path off
    expect(startsFor("exact", 64)).toBe(2 + MAX_AUTO_PREFETCH);
  });

  it("counts live attempts (manifest node or heartbeat runner) as load", () => {
    const b = new ViewBuilder().submit("j1", 128, 64).node("n1", 1).node("n2", 1);
    b.start("j1", "m-0-0-0", 1, 0);
    const p = plan(b.view, cfg, inputs(1, { runningOn: new Map([["j1/m-0-0-0/1", "n1"]]) }));
    expect(starts(p.decisions).map((d) => d.type === "start" && d.nodeId)).toEqual(["n2"]);
  });

  it("counts live attempts with no known node (queued, another scheduler's) against free slots", () => {
    const b = new ViewBuilder().submit("j1", 128, 64).node("n1", 1).node("n2", 1);
    b.start("j1", "m-0-0-0", 1, 0);
    expect(starts(plan(b.view, cfg, inputs(1)).decisions).length).toBe(1);
    b.start("j1", "m-0-0-1", 1, 0);
    expect(plan(b.view, cfg, inputs(1))).toMatchObject({
      decisions: [],
      blocked: "every eligible node's slots are busy",
    });
    // a placement hint puts the load on the hinted node
    const s = starts(
      plan(
        b.view,
        cfg,
        inputs(1, {
          placedOn: new Map([
            ["j1/m-0-0-0/1", "n2"],
            ["j1/m-0-0-1/1", "n2"],
          ]),
        }),
      ).decisions,
    );
    expect(s.map((d) => d.nodeId)).toEqual(["n1"]);
  });

  it("counts its own start decisions against their node until the view shows the attempt", () => {
    const b = new ViewBuilder().submit("j1", 128, 64).node("n1", 2).node("n2", 1);
    const first = starts(plan(b.view, cfg, inputs(0)).decisions);
    expect(first.length).toBe(3);
    // Nothing committed yet: the next pass (another event, a proposal finishing) must not see
    // the nodes free and place a second round over capacity.
    const pendingStarts = new Map(
      first.map((d) => [attemptKey(d.jobId, d.taskId, d.type === "start" ? d.attempt : 0), d]),
    );
    const inflight = new Set(first.map((d) => taskKey(d.jobId, d.taskId)));
    expect(plan(b.view, cfg, inputs(1, { pendingStarts, inflight }))).toMatchObject({
      decisions: [],
      blocked: "every eligible node's slots are busy",
    });
    // Committed and seen (then counted as live attempts, not twice), and one of them completed:
    // exactly one slot is free again.
    for (const d of first) b.start("j1", d.taskId, 1, 2, { nodeId: d.nodeId });
    b.complete("j1", first[0]?.taskId ?? "", 1, 3, first[0]?.nodeId);
    const next = starts(plan(b.view, cfg, inputs(4, { pendingStarts })).decisions);
    expect(next.map((d) => d.nodeId)).toEqual([first[0]?.nodeId]);
  });

  it("does nothing under emergency stop, and starts nothing for a paused job", () => {
    const b = new ViewBuilder().submit("j1").node("n1");
    b.apply(1, { category: "control", type: "emergency-stop", engaged: true, released: 0 });
    expect(plan(b.view, cfg, inputs(2))).toMatchObject({
      decisions: [],
      blocked: "emergency stop engaged",
    });
    const c = new ViewBuilder().submit("j1").node("n1");
    c.apply(1, { category: "job", type: "paused", jobId: "j1" });
    expect(plan(c.view, cfg, inputs(2))).toMatchObject({
      decisions: [],
      blocked: "no job accepts new attempts (paused or verifying)",
    });
  });

  it("never places on a drained node", () => {
    const b = new ViewBuilder().submit("j1").node("n1").node("n2");
    b.apply(1, { category: "node", type: "drain", nodeId: "n1", drained: true });
    const s = starts(plan(b.view, cfg, inputs(2)).decisions);
    expect(s.length).toBe(2);
    expect(s.every((d) => d.type === "start" && d.nodeId === "n2")).toBe(true);
  });

  it("skips tasks with a proposal in flight", () => {
    const b = new ViewBuilder().submit("j1").node("n1", 1);
    const s = starts(plan(b.view, cfg, inputs(0, { inflight: new Set(["j1/m-0-0-0"]) })).decisions);
    expect(s.map((d) => d.taskId)).toEqual(["m-0-0-1"]);
  });

  it("expires attempts whose node failed or went silent", () => {
    const b = new ViewBuilder().submit("j1").node("n1").node("n2");
    b.start("j1", "m-0-0-0", 1, 0).start("j1", "m-0-0-1", 1, 0);
    b.apply(5, { category: "node", type: "failed", nodeId: "n1", reason: "hb", expired: 0 });
    const p = plan(
      b.view,
      cfg,
      inputs(10, {
        runningOn: new Map([
          ["j1/m-0-0-0/1", "n1"],
          ["j1/m-0-0-1/1", "n2"],
        ]),
        silentNodes: new Set(["n2"]),
      }),
    );
    const expires = p.decisions.filter((d) => d.type === "expire");
    expect(expires.map((d) => d.type === "expire" && `${d.taskId}:${d.cause}`)).toEqual([
      "m-0-0-0:node-failed",
      "m-0-0-1:node-failed",
    ]);
    expect(starts(p.decisions).length).toBe(0); // no healthy node left
  });

  it("expires an overrunning attempt, and fails the job instead when that was its last attempt", () => {
    const durations = new DurationStats();
    durations.add("j1", "map", 100);
    durations.add("j1", "map", 100);
    const b = new ViewBuilder().submit("j1", 128, 64, 2).node("n1", 4);
    b.start("j1", "m-0-0-0", 1, 0);
    b.start("j1", "m-0-0-1", 1, 0).fail("j1", "m-0-0-1", 1, 1).start("j1", "m-0-0-1", 2, 2);
    const p = plan(
      b.view,
      { ...cfg, deadlines: { ...cfg.deadlines, speculationFactor: 0 } },
      inputs(1000, { durations }),
    );
    const byTask = new Map(p.decisions.map((d) => [d.taskId, d]));
    expect(byTask.get("m-0-0-0")).toMatchObject({ type: "expire", cause: "overran", attempt: 1 });
    const fail = byTask.get("m-0-0-1");
    expect(fail).toMatchObject({ type: "fail", attempt: 2 });
    expect(fail?.type === "fail" && fail.reason).toContain("failed 2 of 2 allowed attempts");
  });

  it("keeps overrunning attempts while the storage breaker is open (expiring would only burn attempts)", () => {
    const breaker = openBreaker(10_000);
    const b = new ViewBuilder().submit("j1").node("n1", 4);
    b.start("j1", "m-0-0-0", 1, 0);
    const p = plan(
      b.view,
      { ...cfg, deadlines: { ...cfg.deadlines, initialDeadlineMs: 10 } },
      inputs(500, { breaker }),
    );
    expect(p.decisions).toEqual([]);
    expect(p.blocked).toBe("storage circuit breaker open");
    expect(p.wakeAt).toBe(10_000);
  });

  it("half-open breaker lets exactly one probe start", () => {
    const breaker = openBreaker(100);
    const b = new ViewBuilder().submit("j1").node("n1", 4);
    const p = plan(b.view, cfg, inputs(200, { breaker }));
    expect(starts(p.decisions).length).toBe(1);
  });

  it("rescues, once, attempts no heartbeat places after a node failed (the dead agent may hold them)", () => {
    const b = new ViewBuilder().submit("j1").node("n1", 2).node("n2", 2);
    // Three live attempts started before n1 fails at 1_000: one n2's heartbeat lists, one n1's
    // last heartbeat listed (expired instead), one nobody lists (pulled by n1 after its beat?).
    b.start("j1", "m-0-0-0", 1, 100).start("j1", "m-0-0-1", 1, 100).start("j1", "m-0-1-0", 1, 100);
    b.apply(1_000, { category: "node", type: "failed", nodeId: "n1", reason: "hb", expired: 0 });
    const runningOn = new Map([
      ["j1/m-0-0-0/1", "n2"],
      ["j1/m-0-0-1/1", "n1"],
    ]);
    const at = (now: number) => plan(b.view, cfg, inputs(now, { runningOn }));
    // Until every live agent has beaten since the failure: wait, and wake up then.
    const early = at(1_000 + RESCUE_AFTER_MS - 1);
    expect(starts(early.decisions).filter((d) => d.type === "start" && d.speculative)).toEqual([]);
    expect(early.wakeAt).toBeLessThanOrEqual(1_000 + RESCUE_AFTER_MS);
    const p = at(1_000 + RESCUE_AFTER_MS);
    expect(p.decisions.filter((d) => d.type === "expire").map((d) => d.taskId)).toEqual([
      "m-0-0-1",
    ]);
    const rescued = starts(p.decisions).filter((d) => d.type === "start" && d.why === "rescue");
    expect(rescued).toMatchObject([
      { taskId: "m-0-1-0", attempt: 2, speculative: true, nodeId: "n2" },
    ]);
    // Once the twin is live nothing more; an attempt started after the failure is never rescued.
    b.start("j1", "m-0-1-0", 2, 1_000 + RESCUE_AFTER_MS, { speculative: true });
    b.start("j1", "m-0-1-1", 1, 1_500);
    const later = at(1_000 + RESCUE_AFTER_MS + 10);
    expect(later.decisions.filter((d) => d.type === "start" && d.why === "rescue")).toEqual([]);
    // Long after the failure the window is closed: deadlines and redelivery take over.
    const b2 = new ViewBuilder().submit("j1").node("n1", 2).node("n2", 2);
    b2.start("j1", "m-0-0-0", 1, 100);
    b2.apply(1_000, { category: "node", type: "failed", nodeId: "n1", reason: "hb", expired: 0 });
    const old = plan(b2.view, cfg, inputs(1_000 + RESCUE_WINDOW_MS + 1));
    expect(old.decisions.filter((d) => d.type === "start" && d.why === "rescue")).toEqual([]);
  });

  it("expires an attempt bound to a live node whose heartbeats stopped listing it, without counting a failure", () => {
    const b = new ViewBuilder().submit("j1").node("n1", 2).node("n2", 2);
    // Handed over to n1 with a report (bound by the manifest); another bound one n1 does list;
    // one started by the scheduler (not bound: heartbeats place it, or nothing does yet).
    b.start("j1", "m-0-0-0", 1, 100, { nodeId: "n1" });
    b.start("j1", "m-0-0-1", 1, 100, { nodeId: "n1" });
    b.start("j1", "m-0-1-0", 1, 100);
    const seenAt = 1_000;
    const boundSeen = new Map([
      ["j1/m-0-0-0/1", seenAt],
      ["j1/m-0-0-1/1", seenAt],
    ]);
    const runningOn = new Map([["j1/m-0-0-1/1", "n1"]]);
    const end = seenAt + cfg.unlistedAfterMs;
    const at = (
      now: number,
      beat: number,
      over: Partial<PlannerConfig> = {},
      held: string[] = ["j1/m-0-0-1/1"],
    ) =>
      plan(
        b.view,
        { ...cfg, ...over },
        inputs(now, {
          runningOn,
          boundSeen,
          beatAt: new Map([["n1", beat]]),
          heldBy: new Map([["n1", held]]),
        }),
      );
    const expiries = (p: ReturnType<typeof plan>) => p.decisions.filter((d) => d.type === "expire");
    // Inside the window: nothing, and a wake-up at its end.
    const early = at(end - 1, end - 1);
    expect(expiries(early)).toEqual([]);
    expect(early.wakeAt).toBe(end);
    // At its end with a fresh beat that does not list it: expired, blaming the node.
    const due = expiries(at(end, end - 500));
    expect(due).toMatchObject([{ taskId: "m-0-0-0", attempt: 1, cause: "not-held" }]);
    const reason = due[0]?.type === "expire" ? due[0].reason : "";
    expect(reason).toMatch(/^node n1 does not hold attempt 1: .*not listed it for 8 s/);
    // A stale beat (the node may be going silent: that is a node loss, handled as one) says
    // nothing about the window's end; nor does anything when the check is off.
    expect(expiries(at(end + 5_000, end - 2_500))).toEqual([]);
    expect(expiries(at(end, end - 500, { unlistedAfterMs: 0 }))).toEqual([]);
    // Every slot of n1 busy: an agent that lists only what runs could have it queued; it would
    // run it in the next free slot, so wait for one (and look again a second later).
    const busy = at(end, end - 500, {}, ["j1/m-0-0-1/1", "j9/m-0-0-0/1"]);
    expect(expiries(busy)).toEqual([]);
    expect(busy.wakeAt).toBe(end + 1_000);
    // The view treats the expiry as a node loss: no failure counted against the task.
    b.apply(end + 1, {
      category: "task",
      type: "attempt-expired",
      jobId: "j1",
      taskId: "m-0-0-0",
      attempt: 1,
      reason,
    });
    expect(b.view.jobs.get("j1")?.tasks.get("m-0-0-0")?.failures).toBe(0);
  });

  it("expires an attempt bound to no node once the node whose heartbeats listed it stops listing it", () => {
    // Pulled from the work queue by n1 (the manifest names no node), listed by n1's beats; n1
    // is then killed and back under its node id before the manifest notices.
    const b = new ViewBuilder().submit("j1").node("n1", 2).node("n2", 2);
    b.start("j1", "m-0-0-0", 1, 100);
    b.start("j1", "m-0-0-1", 1, 100); // pulled too, never listed by anyone yet
    const seenAt = 1_000;
    const end = seenAt + cfg.unlistedAfterMs;
    const at = (now: number, runningOn = new Map<string, string>()) =>
      plan(
        b.view,
        cfg,
        inputs(now, {
          runningOn,
          boundSeen: new Map([["j1/m-0-0-0/1", seenAt]]),
          listedBy: new Map([["j1/m-0-0-0/1", "n1"]]),
          beatAt: new Map([["n1", now - 100]]),
          heldBy: new Map([["n1", []]]),
        }),
      );
    const expiries = (p: ReturnType<typeof plan>) => p.decisions.filter((d) => d.type === "expire");
    expect(expiries(at(end - 1))).toEqual([]);
    // Still listed by n1: nothing to do.
    expect(expiries(at(end, new Map([["j1/m-0-0-0/1", "n1"]])))).toEqual([]);
    const due = expiries(at(end));
    expect(due).toMatchObject([{ taskId: "m-0-0-0", attempt: 1, cause: "not-held" }]);
    const reason = due[0]?.type === "expire" ? due[0].reason : "";
    expect(reason).toMatch(/^node n1 does not hold attempt 1: its heartbeats listed it, but .*8 s/);
  });

  it("speculates a straggler on another node once it runs past 1.5 × p75 of completed siblings", () => {
    const durations = new DurationStats();
    durations.add("j1", "map", 100);
    durations.add("j1", "map", 100);
    const b = new ViewBuilder().submit("j1", 64, 64).node("n1", 1).node("n2", 1); // one map only
    b.start("j1", "m-0-0-0", 1, 0);
    const running = new Map([["j1/m-0-0-0/1", "n1"]]);
    expect(
      starts(plan(b.view, cfg, inputs(150, { durations, runningOn: running })).decisions),
    ).toEqual([]);
    const s = starts(plan(b.view, cfg, inputs(151, { durations, runningOn: running })).decisions);
    expect(s).toMatchObject([
      { taskId: "m-0-0-0", attempt: 2, speculative: true, nodeId: "n2", why: "straggler" },
    ]);
    // once the duplicate is live, no third attempt
    b.start("j1", "m-0-0-0", 2, 151, { speculative: true });
    expect(
      starts(plan(b.view, cfg, inputs(300, { durations, runningOn: running })).decisions),
    ).toEqual([]);
  });

  it("serves jobs oldest first and places reduces as soon as their row is done", () => {
    const b = new ViewBuilder().submit("j1", 128, 64).submit("j2", 128, 64).node("n1", 3);
    b.completeRow("j1", 1, 1, 0);
    const s = starts(plan(b.view, cfg, inputs(100)).decisions);
    expect(s.map((d) => `${d.jobId}/${d.taskId}`)).toEqual([
      "j1/r-1-1",
      "j1/m-0-0-0",
      "j1/m-0-0-1",
    ]);
  });

  it("locality: a reduce goes where its partials were produced", () => {
    const b = new ViewBuilder()
      .submit("j1", 128, 64)
      .node("east", 2, { cloud: "aws", region: "us-east-1" })
      .node("west", 2, { cloud: "aws", region: "us-west-2" });
    for (const k of [0, 1])
      b.start("j1", `m-0-0-${k}`, 1, 0).complete("j1", `m-0-0-${k}`, 1, 5, "west");
    const s = starts(
      plan(
        b.view,
        {
          ...cfg,
          placement: { ...cfg.placement, policy: "locality" },
          dataLocation: { cloud: "aws", region: "us-east-1" },
        },
        inputs(10),
      ).decisions,
    );
    expect(s[0]).toMatchObject({ taskId: "r-0-0", nodeId: "west" });
    expect(s[1]).toMatchObject({ taskId: "m-0-1-0", nodeId: "east" });
  });

  it("finds the partials to reset after a reduce read a corrupt one", () => {
    const b = new ViewBuilder().submit("j1", 256, 64);
    const job = b.view.jobs.get("j1")!;
    expect(
      partialsToReset(
        job,
        "r-1-2",
        "TESSERA_E_STORAGE_CHECKSUM: fs://d/jobs/j1/partials/1-2-3.tile: crc mismatch",
      ),
    ).toEqual(["m-1-2-3"]);
    expect(partialsToReset(job, "r-1-2", "TESSERA_E_STORAGE_CHECKSUM: crc mismatch")).toEqual([
      "m-1-2-0",
      "m-1-2-1",
      "m-1-2-2",
      "m-1-2-3",
    ]);
    expect(partialsToReset(job, "r-1-2", "TESSERA_E_AGENT_KERNEL: x")).toEqual([]);
  });
});

describe("arming reduces (attempt-start whenReady)", () => {
  const arming: PlannerConfig = { ...cfg, armReduces: true };
  const armed = (ds: Decision[]) =>
    ds.flatMap((d) => (d.type === "start" && d.whenReady ? [`${d.taskId}/${d.attempt}`] : []));

  it("arms a reduce in the pass that starts the last of its partials, and only then", () => {
    // T = 2, two partials per reduce; 3 slots: row (0,0) starts whole, row (0,1) half.
    const b = new ViewBuilder().submit("j1", 128, 64).node("n1", 3);
    const p = plan(b.view, arming, inputs(0));
    expect(
      starts(p.decisions)
        .filter((d) => !d.whenReady)
        .map((d) => d.taskId),
    ).toEqual(["m-0-0-0", "m-0-0-1", "m-0-1-0"]);
    expect(armed(p.decisions)).toEqual(["r-0-0/1"]);
    expect(p.decisions.at(-1)).toMatchObject({
      type: "start",
      kind: "reduce",
      why: "armed",
      nodeId: "n1",
      pool: "cpu",
      speculative: false,
    });
    expect(armed(plan(b.view, cfg, inputs(0)).decisions)).toEqual([]); // --arm-reduces off
  });

  it("arms a batched (empty) job's reduces only while some node has a slot idle", () => {
    // Every slot taken: the reduce would wait in a queue anyway, and alone it costs messages.
    const full = new ViewBuilder().submit("j1", 128, 64, 4, 0, 1, "empty").node("n1", 3);
    const p = plan(full.view, arming, inputs(0));
    expect(starts(p.decisions)).toHaveLength(3);
    expect(armed(p.decisions)).toEqual([]);
    const roomy = new ViewBuilder().submit("j1", 128, 64, 4, 0, 1, "empty").node("n1", 16);
    expect(armed(plan(roomy.view, arming, inputs(0)).decisions)).toEqual([
      "r-0-0/1",
      "r-0-1/1",
      "r-1-0/1",
      "r-1-1/1",
    ]);
    // The same saturated pass arms an exact job's reduce: its starts travel alone anyway.
    const exact = new ViewBuilder().submit("j1", 128, 64).node("n1", 3);
    expect(armed(plan(exact.view, arming, inputs(0)).decisions)).toEqual(["r-0-0/1"]);
  });

  it("arms when the partials are complete or live, not while one has neither", () => {
    const b = new ViewBuilder().submit("j1", 128, 64).node("n1", 1);
    b.complete("j1", "m-0-0-0", 1, 5);
    b.start("j1", "m-0-1-0", 1, 5);
    // Row (0,1) lacks m-0-1-1 and the node is full: nothing to arm there.
    b.start("j1", "m-0-0-1", 1, 6);
    const p = plan(b.view, arming, inputs(10, { runningOn: new Map([["j1/m-0-0-1/1", "n1"]]) }));
    expect(armed(p.decisions)).toEqual(["r-0-0/1"]);
    // Its own proposal in flight, or the manifest already holding it: the shell says skip.
    const skip = new Set([taskKey("j1", "r-0-0")]);
    expect(armed(plan(b.view, arming, inputs(10, { inflight: skip })).decisions)).toEqual([]);
    // Counts the starts it decided earlier and has not seen committed yet.
    const c = new ViewBuilder().submit("j1", 128, 64).node("n1", 1);
    c.start("j1", "m-0-0-0", 1, 0);
    const pendingStarts = new Map([
      [
        attemptKey("j1", "m-0-0-1", 1),
        { jobId: "j1", taskId: "m-0-0-1", attempt: 1, nodeId: "n1" },
      ],
    ]);
    expect(armed(plan(c.view, arming, inputs(1, { pendingStarts })).decisions)).toEqual([
      "r-0-0/1",
    ]);
  });

  it("leaves runnable, already started and failed reduces to the ordinary path, and arms nothing while the breaker is open", () => {
    const b = new ViewBuilder().submit("j1", 128, 64).node("n1", 4);
    b.completeRow("j1", 0, 0, 0);
    const p = plan(b.view, arming, inputs(20));
    expect(p.decisions[0]).toMatchObject({ taskId: "r-0-0", why: "reduce-ready" });
    expect(p.decisions[0]).not.toHaveProperty("whenReady");
    // Row (0,1) starting whole in this pass: armed.
    expect(armed(p.decisions)).toEqual(["r-0-1/1"]);

    const c = new ViewBuilder().submit("j1", 128, 64).node("n1", 4);
    c.completeRow("j1", 0, 1, 0).start("j1", "r-0-1", 1, 20).fail("j1", "r-0-1", 1, 30);
    // A partial reset since: r-0-1 is not runnable; its next attempt is the ordinary path's.
    c.apply(40, {
      category: "task",
      type: "reset",
      jobId: "j1",
      taskId: "m-0-1-0",
      attempt: 1,
      kind: "map",
      reason: "corrupt",
      resets: 1,
      jobState: "running",
    });
    expect(armed(plan(c.view, arming, inputs(50)).decisions)).not.toContain("r-0-1/1");
    expect(armed(plan(c.view, arming, inputs(50)).decisions)).not.toContain("r-0-1/2");

    const breaker = openBreaker(10_000);
    const open = new ViewBuilder().submit("j1", 128, 64).node("n1", 4);
    expect(plan(open.view, arming, inputs(1, { breaker })).decisions).toEqual([]);
  });
});
