import { describe, expect, it } from "vitest";
import { InvalidSimOptionError } from "../errors.js";
import { Cluster } from "./cluster.js";
import { runSeed } from "./run-seed.js";

describe("runSeed: one seed, one exact run", () => {
  it("replays a seed identically: same digest, statistics, client history and trace", () => {
    const a = runSeed({ seed: 4242, steps: 600, trace: true, traceLines: 10_000 });
    const b = runSeed({ seed: 4242, steps: 600, trace: true, traceLines: 10_000 });
    expect(b.digest).toBe(a.digest);
    expect(b.stats).toEqual(a.stats);
    expect(b.steps).toBe(a.steps);
    expect(a.stats.messagesSent).toBeGreaterThan(1000);
    // Tracing must not perturb the run.
    const quiet = runSeed({ seed: 4242, steps: 600 });
    expect(quiet.digest).toBe(a.digest);
    const other = runSeed({ seed: 4243, steps: 600 });
    expect(other.digest).not.toBe(a.digest);
  });

  it("records identical client histories and traces for two runs of one seed", () => {
    const run = () => {
      const c = new Cluster({ seed: 99, nodes: 5, trace: true, traceLimit: 100_000 });
      c.net.setFaults({ dropRate: 0.1, duplicateRate: 0.05, minDelay: 1, maxDelay: 4 });
      c.run(400);
      c.crash(1);
      c.run(200);
      return { ops: c.history.ops, trace: c.traceTail(100_000), digest: c.digest };
    };
    const a = run();
    const b = run();
    expect(a.ops.length).toBeGreaterThan(50);
    expect(b.ops).toEqual(a.ops);
    expect(b.trace).toEqual(a.trace);
    expect(b.digest).toBe(a.digest);
  });

  it("rejects invalid options with a typed error naming the field", () => {
    expect(() => runSeed({ seed: 1, nodes: 4 })).toThrow(InvalidSimOptionError);
    expect(() => runSeed({ seed: -1 })).toThrow(/"seed"/);
    expect(() => runSeed({ seed: 1, steps: 0 })).toThrow(/"steps"/);
  });

  it("is not vacuous: a host that forgets its vote on restart is caught breaking election safety", () => {
    // Mutation test of the harness itself: persist-before-send is honoured, but the vote is
    // "lost" by the disk on every restart, which lets a node vote twice in one term.
    let caught = 0;
    for (let seed = 1; seed <= 60 && caught === 0; seed++) {
      const c = new Cluster({
        seed,
        nodes: 5,
        node: { preVote: false, checkQuorum: false },
        client: { issueRate: 0 },
      });
      c.net.setFaults({ dropRate: 0.05, duplicateRate: 0, minDelay: 1, maxDelay: 6 });
      try {
        for (let step = 0; step < 1500; step++) {
          if (step % 7 === 0) {
            const victim = 1 + ((step / 7) % 5);
            const n = c.node(victim);
            c.crash(victim);
            const hs = n.storage.initialState().hardState;
            n.storage.setHardState({ ...hs, vote: 0 });
            c.restart(victim);
          }
          c.step();
        }
      } catch (e) {
        expect((e as { invariant?: string }).invariant).toBe("election-safety");
        caught++;
      }
    }
    expect(caught).toBe(1);
  });

  it("is not vacuous: reads served from local state without ReadIndex are caught as non-linearizable", () => {
    let caught = 0;
    for (let seed = 1; seed <= 20 && caught === 0; seed++) {
      const c = new Cluster({
        seed,
        nodes: 3,
        node: { checkQuorum: false },
        client: { readIndexShare: 1, issueRate: 0.6 },
        mutation: "stale-local-reads",
      });
      for (let round = 0; round < 4; round++) {
        c.run(80);
        const l = c.leader();
        if (l !== undefined) c.net.isolate(l.id, [1, 2, 3]);
        c.run(120);
        c.net.heal();
      }
      try {
        expect(c.settle(800)).toBe(true);
        c.checkLinearizable();
      } catch (e) {
        expect((e as { invariant?: string }).invariant).toBe("linearizability");
        expect((e as Error).message).toMatch(/cannot linearize: client \d+ .*get\(/);
        caught++;
      }
    }
    expect(caught).toBe(1);
  });
});
