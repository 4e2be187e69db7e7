import { describe, expect, it } from "vitest";
import type { ClusterStatus, PeerStatus } from "./cluster-view.js";
import { parseTopArgs } from "./top.js";
import {
  INITIAL_TOP_STATE,
  MAX_EVENTS,
  reachableLeader,
  renderTop,
  sparkline,
  type TopSample,
  type TopState,
  topStep,
} from "./top-view.js";

const T0 = 1_800_000_000_000;

const peer = (id: number, role: string, o: Partial<PeerStatus> = {}): PeerStatus => ({
  id,
  role,
  reachable: true,
  term: 2,
  commitIndex: 100,
  appliedIndex: 100,
  grpc: `127.0.0.1:700${id}`,
  http: `http://127.0.0.1:800${id}`,
  featureLevel: 2,
  ...o,
});

const cluster = (leader: number | null, term = 2, peers?: PeerStatus[]): ClusterStatus => ({
  leader,
  term,
  featureLevel: 2,
  peers: peers ?? [1, 2, 3].map((id) => peer(id, id === leader ? "leader" : "follower")),
});

const node = (nodeId: string, o: Record<string, unknown> = {}) => ({
  nodeId,
  labels: { pool: "cpu", cloud: "local", region: "r1", zone: "z" },
  capacity: { slots: 2 },
  executionProvider: "cpu",
  state: "active",
  drained: false,
  liveAttempts: 0,
  failReason: null,
  ...o,
});

/** A 1024/256 job (k-per-map 1): 64 maps + 16 reduces; each map is 2·256³ FLOP. */
const job = (jobId: string, mapsDone: number, o: Record<string, unknown> = {}) => ({
  jobId,
  spec: { n: 1024, tile: 256, mode: "exact", seed: 1, kPerMap: 1 },
  state: "running",
  submittedAt: T0 - 5_000,
  finishedAt: null,
  outputDigest: null,
  verified: null,
  failure: null,
  counts: {
    tasks: 80,
    maps: 64,
    reduces: 16,
    mapsDone,
    reducesDone: 0,
    done: mapsDone,
    liveAttempts: 4,
  },
  ...o,
});

const sample = (at: number, o: Partial<TopSample> = {}): TopSample => ({
  at,
  cluster: cluster(1),
  nodes: [node("agent-1"), node("agent-2")],
  jobs: [],
  ...o,
});

/** Runs the samples through topStep; returns every frame and the last state. */
function run(samples: TopSample[], state: TopState = INITIAL_TOP_STATE, options = {}) {
  const frames = [];
  for (const s of samples) {
    const step = topStep(state, s, options);
    frames.push(step.frame);
    state = step.state;
  }
  return { frames, state };
}

describe("tessera top: rates", () => {
  it("measures each job's tasks/s and GFLOP/s between two polls, sums them, and estimates the ETA", () => {
    const { frames } = run([
      sample(T0, { jobs: [job("j1", 10)] }),
      sample(T0 + 2_000, { jobs: [job("j1", 30)] }),
    ]);
    expect(frames[0]?.jobs[0]).toMatchObject({
      tasksPerSecond: null,
      gflops: null,
      etaSeconds: null,
    });
    const j = frames[1]?.jobs[0];
    expect(j).toMatchObject({
      jobId: "j1",
      done: 30,
      tasks: 80,
      tasksPerSecond: 10,
      etaSeconds: 5,
    });
    // 20 maps of 2·256³ FLOP in 2 s.
    expect(j?.gflops).toBeCloseTo((20 * 2 * 256 ** 3) / 2 / 1e9, 2);
    expect(frames[1]?.totals).toMatchObject({ tasksPerSecond: 10, liveAttempts: 0, slots: 4 });
    expect(frames[1]?.intervalSeconds).toBe(2);
    expect(frames[1]?.throughputHistory).toEqual([10]);
  });

  it("counts the raft entries committed per second from the highest commit index any peer reports", () => {
    const later = cluster(1, 2, [
      peer(1, "leader", { commitIndex: 150 }),
      peer(2, "follower", { commitIndex: 148, appliedIndex: 140 }),
      peer(3, "follower", { reachable: false, commitIndex: null, appliedIndex: null }),
    ]);
    const { frames } = run([sample(T0), sample(T0 + 500, { cluster: later })]);
    expect(frames[1]?.cluster).toMatchObject({ commitIndex: 150, entriesPerSecond: 100 });
    const text = renderTop(frames[1] as NonNullable<(typeof frames)[1]>, 200).join("\n");
    expect(text).toContain("applied 140 (10 behind)");
    expect(text).toMatch(/peer 3 {2}DOWN/);
  });

  it("a poll whose job read failed keeps the last jobs on screen, with no rates, and measures the next against the last complete poll", () => {
    const { frames } = run([
      sample(T0, { jobs: [job("j1", 10)] }),
      sample(T0 + 1_000, { jobs: null, error: "timeout" }),
      sample(T0 + 2_000, { jobs: [job("j1", 50)] }),
    ]);
    expect(frames[1]?.jobs[0]).toMatchObject({ done: 10, tasksPerSecond: null });
    expect(frames[1]?.error).toBe("timeout");
    expect(frames[2]?.jobs[0]).toMatchObject({ done: 50, tasksPerSecond: 20 });
  });

  it("shows unfinished jobs by submission, then the most recent finished ones up to the limit", () => {
    const finished = (id: string, at: number) =>
      job(id, 64, {
        state: "succeeded",
        finishedAt: at,
        verified: true,
        outputDigest: "ab".repeat(32),
      });
    const views = [
      finished("old", T0 - 9_000),
      job("second", 1, { submittedAt: T0 - 1_000 }),
      finished("new", T0 - 1_000),
      job("first", 1, { submittedAt: T0 - 2_000 }),
      finished("mid", T0 - 5_000),
    ];
    const frame = topStep(INITIAL_TOP_STATE, sample(T0, { jobs: views }), {
      maxFinishedJobs: 2,
    }).frame;
    expect(frame.jobs.map((j) => j.jobId)).toEqual(["first", "second", "new", "mid"]);
    const text = renderTop(frame, 200).join("\n");
    expect(text).toMatch(/new +succeeded {2}64\/80 {2}verified {2}digest abababababab…/);
  });
});

describe("tessera top: events", () => {
  it("a killed leader: 'no leader' while its followers still name it, then the new leader and the time without one", () => {
    const killed = cluster(1, 2, [
      peer(1, "leader", { reachable: false, term: null, commitIndex: null, appliedIndex: null }),
      peer(2, "follower"),
      peer(3, "follower"),
    ]);
    const { frames, state } = run([
      sample(T0),
      sample(T0 + 250, { cluster: killed }),
      sample(T0 + 500, { cluster: killed }),
      sample(T0 + 750, { cluster: cluster(2, 3) }),
    ]);
    expect(reachableLeader(killed)).toBeNull();
    expect(frames[1]?.cluster?.leader).toBeNull();
    expect(frames[2]?.leaderlessSeconds).toBe(0.3);
    expect(renderTop(frames[2] as NonNullable<(typeof frames)[2]>).join("\n")).toContain(
      "NO LEADER for 0.3s",
    );
    expect(frames[3]?.leaderlessSeconds).toBeNull();
    expect(frames[3]?.cluster?.leader).toBe(2);
    expect(state.events.map((e) => e.text)).toEqual([
      "no leader (term 2; peer 1 was leader and does not answer)",
      "peer 1 does not answer",
      "leader 2 (term 3) after 0.5s without one (was 1)",
      "peer 1 answers again (follower)",
    ]);
  });

  it("a leader change between two polls is an event too; no peer answering is one, once", () => {
    const { state } = run([
      sample(T0),
      sample(T0 + 1_000, { cluster: cluster(3, 4) }),
      sample(T0 + 2_000, { cluster: null, nodes: null, jobs: null, error: "ECONNREFUSED" }),
      sample(T0 + 3_000, { cluster: null, nodes: null, jobs: null, error: "ECONNREFUSED" }),
    ]);
    expect(state.events.map((e) => e.text)).toEqual([
      "leader 1 → 3 (term 4)",
      "no peer answered: ECONNREFUSED",
    ]);
  });

  it("nodes failing, joining, drained and promoted from standby; jobs submitted, finished and deleted", () => {
    const { state, frames } = run([
      sample(T0, {
        nodes: [node("a1"), node("a2"), node("s1", { capacity: { slots: 0 } })],
        jobs: [job("j1", 10), job("j2", 64, { state: "succeeded", verified: true })],
      }),
      sample(T0 + 1_000, {
        nodes: [
          node("a1", { state: "failed", failReason: "φ 9.1 >= 8 after 1800 ms of silence" }),
          node("a2", { drained: true, drainReason: "rack move" }),
          node("s1"),
          node("a3"),
        ],
        jobs: [job("j1", 64, { state: "succeeded", verified: true }), job("j3", 0)],
      }),
    ]);
    expect(state.events.map((e) => `${e.kind}: ${e.text}`)).toEqual([
      "node: a1 active → failed: φ 9.1 >= 8 after 1800 ms of silence",
      "node: a2 drained: rack move",
      "node: s1 promoted from warm standby (2 slots)",
      "node: a3 joined (cpu pool, 2 slots)",
      "job: j1 running → succeeded (verified)",
      "job: j3 submitted (n=1024 tile=256, 80 tasks)",
      "job: j2 deleted",
    ]);
    // Standby and drained nodes offer no slots to the work line.
    expect(frames[0]?.totals).toMatchObject({ slots: 4, activeNodes: 2 });
    expect(frames[1]?.totals).toMatchObject({ slots: 4, activeNodes: 2 });
  });

  it("a rolling upgrade: each peer's level while they differ, and the raise as an event", () => {
    const upgrading = cluster(1, 2, [
      peer(1, "leader"),
      peer(2, "follower"),
      peer(3, "follower", { featureLevel: 1 }),
    ]);
    const { state, frames } = run([
      sample(T0, { cluster: { ...upgrading, featureLevel: 1 } }),
      sample(T0 + 1_000),
    ]);
    const before = renderTop(frames[0] as NonNullable<(typeof frames)[0]>, 200);
    expect(before[1]).toMatch(/ level 1$/);
    expect(before[4]).toMatch(/^ {2}peer 3 .* level 1 /);
    expect(before[2]).toMatch(/^ {2}peer 1 .* level 2 /);
    const after = renderTop(frames[1] as NonNullable<(typeof frames)[1]>, 200);
    expect(after[1]).toMatch(/ level 2$/);
    expect(after[2]).not.toContain("level");
    expect(state.events.map((e) => `${e.kind}: ${e.text}`)).toEqual([
      "peer: manifest feature level 1 → 2",
    ]);
  });

  it("tells a deleted finished job from one pushed out of the polled window of the latest finished", () => {
    // The server lists the unfinished jobs and the 2 latest finished (/v1/jobs?finished=2).
    const done = (id: string, finishedAt: number) =>
      job(id, 64, { state: "succeeded", verified: true, finishedAt });
    const { state } = run(
      [
        sample(T0, { jobs: [done("f1", T0 - 3_000), done("f2", T0 - 2_000), job("r1", 10)] }),
        // r1 finished: f1 is no longer among the 2 latest, so it is not listed; not deleted.
        sample(T0 + 1_000, { jobs: [done("f2", T0 - 2_000), done("r1", T0 + 500)] }),
        // f2 missing from a window that is not full: deleted.
        sample(T0 + 2_000, { jobs: [done("r1", T0 + 500)] }),
        // r1 deleted: the window is full, but both listed finished before r1, so r1 would be
        // listed if it still existed.
        sample(T0 + 3_000, { jobs: [done("f0", T0 - 9_000), done("f1", T0 - 3_000)] }),
      ],
      INITIAL_TOP_STATE,
      { maxFinishedJobs: 2 },
    );
    expect(state.events.map((e) => e.text)).toEqual([
      "r1 running → succeeded (verified)",
      "f2 deleted",
      "r1 deleted",
    ]);
  });

  it("keeps the newest MAX_EVENTS events", () => {
    const samples = [sample(T0, { jobs: [] })];
    const jobs = [];
    for (let i = 1; i <= MAX_EVENTS + 3; i++) {
      jobs.push(job(`j${i}`, 0));
      samples.push(sample(T0 + i * 1_000, { jobs: [...jobs] }));
    }
    const { state } = run(samples);
    expect(state.events).toHaveLength(MAX_EVENTS);
    expect(state.events.at(-1)?.text).toMatch(/^j11 submitted/);
  });
});

describe("tessera top: drawing and flags", () => {
  it("draws a sparkline scaled to the largest value", () => {
    expect(sparkline([0, 5, 10])).toBe("▁▅█");
    expect(sparkline([0, 0])).toBe("▁▁");
  });

  it("cuts every line to the terminal's width", () => {
    const frame = topStep(INITIAL_TOP_STATE, sample(T0, { jobs: [job("j1", 10)] })).frame;
    for (const line of renderTop(frame, 40)) expect(line.length).toBeLessThanOrEqual(40);
  });

  it("rejects a bad --interval or --finished, naming the flag", () => {
    expect(() => parseTopArgs({ interval: "0" })).toThrow(
      /--interval: "0" must be a number of seconds/,
    );
    expect(() => parseTopArgs({ interval: "fast" })).toThrow(/--interval/);
    expect(() => parseTopArgs({ finished: "-1" })).toThrow(/--finished: "-1" must be an integer/);
    expect(parseTopArgs({ interval: "0.5", once: true })).toMatchObject({
      intervalMs: 500,
      once: true,
      maxFinishedJobs: 5,
    });
  });
});
