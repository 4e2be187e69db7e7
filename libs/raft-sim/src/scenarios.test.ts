import { ConfChangeType, type Message, MessageType, StateType } from "@tessera/raft";
import { describe, expect, it } from "vitest";
import { Cluster, type ClusterOptions } from "./sim/cluster.js";
import { encodeCommand } from "./sim/kv-state-machine.js";
import type { NodeSettings } from "./sim/sim-node.js";

/**
 * Named scenarios: each drives a Cluster by hand into one situation from the Raft paper or from
 * operations, and asserts the behaviour that situation exists to prove. The invariant checker runs
 * inside every step, so any safety violation along the way fails the test too.
 */

function make(o: Partial<ClusterOptions> & { node?: Partial<NodeSettings> } = {}): Cluster {
  const c = new Cluster({ seed: 1, nodes: 3, clients: 3, ...o });
  c.issueNew = false; // scenarios issue their own operations
  return c;
}

/** Runs until exactly one live leader exists and every live node follows it. */
function awaitLeader(c: Cluster, maxSteps = 300): number {
  const ok = c.runUntil(() => {
    const l = c.leader();
    if (l === undefined) return false;
    return c.liveNodes().every((n) => n.lead === l.id && n.term === l.term);
  }, maxSteps);
  expect(ok, `no stable leader within ${maxSteps} steps: ${c.describe()}`).toBe(true);
  return (c.leader() as NonNullable<ReturnType<Cluster["leader"]>>).id;
}

/** Issues an operation and runs until the client has its answer; returns the recorded op. */
function complete(
  c: Cluster,
  clientId: number,
  input: Parameters<Cluster["issue"]>[1],
  opts: Parameters<Cluster["issue"]>[2] = {},
  maxSteps = 600,
) {
  c.issue(clientId, input, opts);
  const client = c.clients[clientId - 1]!;
  const ok = c.runUntil(() => !client.busy, maxSteps);
  expect(ok, `client ${clientId} got no answer: ${c.describe()}`).toBe(true);
  const op = c.history.ops[c.history.ops.length - 1]!;
  expect(op.clientId).toBe(clientId);
  return op;
}

/** Heal, settle, and check convergence and linearizability of everything the clients saw. */
function settleAndCheck(c: Cluster, maxSteps = 800): void {
  expect(c.settle(maxSteps), `did not settle: ${c.describe()}; ${c.describeLeader()}`).toBe(true);
  c.checkConvergence();
  c.checkLinearizable();
}

function lastIndexTerm(c: Cluster, id: number, index: number): number {
  const st = c.node(id).storage;
  return index <= st.lastIndex() && index >= st.firstIndex() - 1 ? st.term(index) : -1;
}

describe("Raft scenarios (deterministic simulation)", () => {
  it("first election: a fresh cluster elects exactly one leader that every node follows", () => {
    const c = make({ nodes: 5 });
    const leader = awaitLeader(c);
    const leaders = c.liveNodes().filter((n) => n.state === StateType.Leader);
    expect(leaders.map((n) => n.id)).toEqual([leader]);
    // The leader's no-op commits, so the cluster is usable.
    expect(c.runUntil(() => c.liveNodes().every((n) => n.applied >= 1), 100)).toBe(true);
  });

  it("re-election after leader crash: the survivors elect a new leader in a higher term and keep serving", () => {
    const c = make();
    const first = awaitLeader(c);
    const term = c.node(first).term;
    complete(c, 1, { kind: "put", key: "x", value: "before" });
    c.crash(first);
    const second = awaitLeader(c);
    expect(second).not.toBe(first);
    expect(c.node(second).term).toBeGreaterThan(term);
    const op = complete(c, 2, { kind: "append", key: "x", value: "+after" });
    expect(op.output).toEqual({ kind: "done" });
    c.restart(first);
    settleAndCheck(c);
    expect(c.node(first).kv.read("x")).toBe("before+after");
  });

  it("Figure 8: a leader never commits an entry of an earlier term by counting replicas, so it can be safely overwritten", () => {
    const c = make({
      nodes: 5,
      node: { preVote: false, checkQuorum: false, maxSizePerMsg: 1, snapshotEvery: 0 },
    });
    for (const id of [1, 2, 3, 4, 5]) c.frozen.add(id); // nobody times out: we choose who campaigns
    const campaignUntilLeader = (id: number): void => {
      for (let i = 0; i < 5 && !c.node(id).isLeader(); i++) {
        c.node(id).raw!.campaign();
        c.run(8);
      }
      expect(c.node(id).isLeader(), c.describe()).toBe(true);
    };

    // (a) n1 leads term T1 and replicates entry X at index i to n2 only.
    campaignUntilLeader(1);
    c.run(10);
    const t1 = c.node(1).term;
    c.intercept = (m) => (m.from === 1 && m.to !== 2 ? null : m);
    const x = encodeCommand({
      clientId: 9,
      seq: 1,
      ackedSeq: 0,
      input: { kind: "put", key: "f8", value: "X" },
    });
    c.node(1).raw!.propose(x);
    c.run(10);
    const i = c.node(1).storage.lastIndex();
    expect(lastIndexTerm(c, 2, i)).toBe(t1);
    expect(lastIndexTerm(c, 3, i)).toBe(-1);
    c.crash(1);

    // (b) n5 wins term T2 with votes from n3 and n4, appends its own entry at index i, and crashes
    // before replicating it.
    c.intercept = (m) => (m.from === 5 && m.type === MessageType.App ? null : m);
    campaignUntilLeader(5);
    const t2 = c.node(5).term;
    expect(lastIndexTerm(c, 5, i)).toBe(t2);
    c.crash(5);

    // (c) n1 returns, wins term T3 and replicates X to n3: X is now on a majority (n1, n2, n3),
    // but the term-T3 entry after it is kept from every follower. X must NOT be committed.
    c.restart(1);
    c.frozen.delete(1); // let the leader heartbeat so replication proceeds
    c.intercept = (m): Message | null => {
      if (m.from === 1 && m.type === MessageType.App) {
        return { ...m, entries: m.entries.filter((e) => e.index <= i) };
      }
      return m;
    };
    campaignUntilLeader(1);
    expect(c.runUntil(() => lastIndexTerm(c, 3, i) === t1, 200)).toBe(true);
    c.run(50);
    expect(c.node(1).raw!.status().commit).toBeLessThan(i);
    c.crash(1);

    // (d) n5 returns and wins with its term-T2 entry at i (more up to date than X): it overwrites
    // X everywhere, which is safe precisely because X was never committed.
    // (n1's appends still in flight keep losing their term-T3 entries, as in (c).)
    c.frozen.add(1);
    c.restart(5);
    campaignUntilLeader(5);
    expect(
      c.runUntil(
        () => [2, 3, 4, 5].every((id) => lastIndexTerm(c, id, i) === t2 && c.node(id).applied > i),
        300,
      ),
    ).toBe(true);
    for (const id of [2, 3, 4, 5]) expect(c.node(id).kv.read("f8")).toBeNull();
  });

  it("stale leader returns and steps down: its uncommitted entries are discarded and clients stay linearizable", () => {
    const c = make({ node: { checkQuorum: false } });
    const old = awaitLeader(c);
    const oldTerm = c.node(old).term;
    complete(c, 1, { kind: "put", key: "k", value: "v1" });
    const others = [1, 2, 3].filter((id) => id !== old);
    c.net.isolate(old, [1, 2, 3]);
    // A write sent to the isolated leader cannot commit; its client will time out and retry.
    c.issue(2, { kind: "append", key: "k", value: "+stale" }, { target: old });
    expect(c.runUntil(() => others.some((id) => c.node(id).isLeader()), 300)).toBe(true);
    expect(c.node(old).isLeader()).toBe(true); // still believes it leads (no check-quorum)
    const fresh = others.find((id) => c.node(id).isLeader())!;
    complete(c, 3, { kind: "put", key: "k", value: "v2" }, { target: fresh });
    c.net.heal();
    expect(c.runUntil(() => !c.node(old).isLeader(), 100)).toBe(true);
    expect(c.node(old).term).toBeGreaterThan(oldTerm);
    settleAndCheck(c);
  });

  it("unreliable network (20% loss, duplication, reordering) still commits client operations", () => {
    const c = make({ nodes: 5, seed: 7 });
    c.net.setFaults({ dropRate: 0.2, duplicateRate: 0.05, minDelay: 1, maxDelay: 5 });
    c.issueNew = true;
    c.run(1500);
    const done = c.history.ops.filter((o) => o.output !== undefined).length;
    expect(done).toBeGreaterThan(100);
    expect(c.net.stats.dropped).toBeGreaterThan(0);
    expect(c.net.stats.duplicated).toBeGreaterThan(0);
    settleAndCheck(c);
  });

  it("minority-side leader cannot commit: its commit index stays put while the majority moves on", () => {
    const c = make({ nodes: 5, node: { checkQuorum: false } });
    const old = awaitLeader(c);
    c.run(20);
    const minority = [old, old === 1 ? 2 : 1];
    const majority = [1, 2, 3, 4, 5].filter((id) => !minority.includes(id));
    c.net.partition([minority, majority]);
    const commitBefore = c.node(old).raw!.status().commit;
    for (let k = 0; k < 5; k++) {
      c.node(old).raw!.propose(
        encodeCommand({
          clientId: 7,
          seq: k + 1,
          ackedSeq: k,
          input: { kind: "append", key: "m", value: "lost;" },
        }),
      );
    }
    expect(c.runUntil(() => majority.some((id) => c.node(id).isLeader()), 300)).toBe(true);
    const leader = majority.find((id) => c.node(id).isLeader())!;
    complete(c, 1, { kind: "append", key: "m", value: "kept;" }, { target: leader });
    c.run(100);
    expect(c.node(old).raw!.status().commit).toBe(commitBefore);
    c.net.heal();
    settleAndCheck(c);
    expect(c.node(old).kv.read("m")).toBe("kept;");
  });

  it("a healed partition converges: every node ends with the same state and the history is linearizable", () => {
    const c = make({ nodes: 5, seed: 11 });
    c.issueNew = true;
    awaitLeader(c);
    c.run(100);
    c.net.partition([
      [1, 2],
      [3, 4, 5],
    ]);
    c.run(300);
    c.net.heal();
    c.run(200);
    settleAndCheck(c);
    expect(c.history.ops.length).toBeGreaterThan(50);
  });

  it("pre-vote stops a rejoining node from disrupting a stable leader (and without it, it does)", () => {
    const run = (preVote: boolean) => {
      const c = make({ node: { preVote, checkQuorum: false } });
      const leader = awaitLeader(c);
      const term = c.node(leader).term;
      const loner = leader === 3 ? 2 : 3;
      c.net.isolate(loner, [1, 2, 3]);
      c.run(200); // the loner's election timer fires again and again
      c.net.heal();
      c.run(100);
      return {
        leaderKept: c.node(leader).isLeader() && c.node(leader).term === term,
        lonerTerm: c.node(loner).term,
        term,
      };
    };
    const withPreVote = run(true);
    expect(withPreVote.leaderKept).toBe(true);
    expect(withPreVote.lonerTerm).toBe(withPreVote.term);
    const without = run(false);
    expect(without.leaderKept).toBe(false);
  });

  it("check-quorum step-down: a leader cut off from a quorum steps down within a couple of election timeouts", () => {
    const run = (checkQuorum: boolean) => {
      const c = make({ node: { checkQuorum } });
      const leader = awaitLeader(c);
      c.net.isolate(leader, [1, 2, 3]);
      c.run(c.settings.electionTick * 3);
      return c.node(leader).isLeader();
    };
    expect(run(true)).toBe(false);
    expect(run(false)).toBe(true);
  });

  it("snapshot install to a lagging follower after compaction: it catches up by InstallSnapshot", () => {
    const c = make({ node: { snapshotEvery: 10, keepEntries: 0, snapshotChunkSize: 32 } });
    const leader = awaitLeader(c);
    const lagger = leader === 3 ? 2 : 3;
    c.crash(lagger);
    for (let k = 0; k < 30; k++) complete(c, 1, { kind: "append", key: "s", value: `${k};` });
    const l = c.node(leader);
    expect(l.storage.firstIndex()).toBeGreaterThan(c.node(lagger).storage.lastIndex() + 1);
    c.restart(lagger);
    expect(
      c.runUntil(() => c.node(lagger).applied === l.applied, 300),
      c.describeLeader(),
    ).toBe(true);
    expect(c.node(lagger).snapshotsInstalled).toBeGreaterThan(0);
    expect(c.node(lagger).kv.read("s")).toBe(l.kv.read("s"));
    settleAndCheck(c);
  });

  it("add and remove members under load: learner catch-up, promotion, removal of the leader; service continues", () => {
    const c = make({ seed: 5, bootstrap: "snapshot" });
    c.issueNew = true;
    const first = awaitLeader(c);
    const change = (type: ConfChangeType, nodeId: number): void => {
      expect(c.runUntil(() => c.proposeConfChange({ type, nodeId }), 200)).toBe(true);
      const applied = () =>
        c.liveNodes().every((n) => {
          const cs = n.confState;
          if (type === ConfChangeType.RemoveNode)
            return !cs.voters.includes(nodeId) && !cs.learners.includes(nodeId);
          if (type === ConfChangeType.AddLearner)
            return cs.learners.includes(nodeId) || cs.voters.includes(nodeId);
          return cs.voters.includes(nodeId);
        });
      expect(c.runUntil(applied, 400), c.describe()).toBe(true);
    };
    const n4 = c.spawnNode().id;
    change(ConfChangeType.AddLearner, n4);
    change(ConfChangeType.AddNode, n4);
    const n5 = c.spawnNode().id;
    change(ConfChangeType.AddLearner, n5);
    change(ConfChangeType.AddNode, n5);
    change(ConfChangeType.RemoveNode, first); // the leader removes itself
    expect(c.node(first).removed).toBe(true);
    awaitLeader(c);
    c.run(200);
    settleAndCheck(c);
    const l = c.leader()!;
    expect([...l.confState.voters].sort()).toEqual([1, 2, 3, 4, 5].filter((id) => id !== first));
    expect(c.history.ops.filter((o) => o.output !== undefined).length).toBeGreaterThan(50);
  });

  it("a server added later learns the initial configuration (documented conf-state bootstrap)", () => {
    const c = make({ seed: 2 });
    awaitLeader(c);
    complete(c, 1, { kind: "put", key: "a", value: "1" });
    const n4 = c.spawnNode().id;
    expect(
      c.runUntil(() => c.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: n4 }), 100),
    ).toBe(true);
    expect(c.runUntil(() => c.node(n4).confState.learners.includes(n4), 300)).toBe(true);
    // A joining server must know who else votes, or it can elect itself alone.
    expect([...c.node(n4).confState.voters].sort()).toEqual([1, 2, 3]);
  });

  it("leadership transfer: the target becomes leader without waiting for an election timeout", () => {
    const c = make({ nodes: 5 });
    const from = awaitLeader(c);
    complete(c, 1, { kind: "put", key: "t", value: "1" });
    const to = from === 5 ? 4 : 5;
    const term = c.node(from).term;
    c.node(from).raw!.transferLeadership(to);
    expect(
      c.runUntil(() => c.node(to).isLeader(), c.settings.electionTick - 1),
      c.describe(),
    ).toBe(true);
    expect(c.node(to).term).toBe(term + 1);
    complete(c, 2, { kind: "append", key: "t", value: "2" });
    settleAndCheck(c);
  });

  it("ReadIndex stays linearizable across a leader change: a deposed leader never serves a stale read", () => {
    const c = make({ node: { checkQuorum: false } });
    const old = awaitLeader(c);
    complete(c, 1, { kind: "put", key: "r", value: "old" });
    c.net.isolate(old, [1, 2, 3]);
    const others = [1, 2, 3].filter((id) => id !== old);
    expect(c.runUntil(() => others.some((id) => c.node(id).isLeader()), 300)).toBe(true);
    const fresh = others.find((id) => c.node(id).isLeader())!;
    complete(c, 2, { kind: "put", key: "r", value: "new" }, { target: fresh });
    // The read goes to the deposed leader first: it must not answer "old".
    const read = complete(c, 3, { kind: "get", key: "r" }, { viaReadIndex: true, target: old });
    expect(read.output).toEqual({ kind: "value", value: "new" });
    c.net.heal();
    settleAndCheck(c);
  });

  it("ReadIndex under leader churn: reads and writes across crashes and transfers stay linearizable", () => {
    const c = make({ nodes: 5, seed: 21, client: { readIndexShare: 1, issueRate: 0.6 } });
    c.issueNew = true;
    for (let round = 0; round < 6; round++) {
      const l = awaitLeader(c);
      c.run(60);
      if (round % 2 === 0) {
        c.crash(l);
        c.run(40);
        c.restart(l);
      } else {
        const to = c.liveNodes().find((n) => n.id !== l)!.id;
        c.node(l).raw?.transferLeadership(to);
        c.run(40);
      }
    }
    settleAndCheck(c);
    expect(
      c.history.ops.filter((o) => o.input.kind === "get" && o.output !== undefined).length,
    ).toBeGreaterThan(30);
  });

  it("crash during snapshot write (own snapshot written, log not yet compacted): restart is consistent", () => {
    const c = make({ node: { snapshotEvery: 5, keepEntries: 0 } });
    const leader = awaitLeader(c);
    const victim = leader === 3 ? 2 : 3;
    c.crashDuringReady(victim, "after-snapshot-create", 500);
    c.issueNew = true;
    expect(c.runUntil(() => !c.node(victim).alive, 500)).toBe(true);
    const st = c.node(victim).storage;
    expect(st.snapshot().metadata.index).toBeGreaterThanOrEqual(st.firstIndex());
    c.restart(victim);
    c.run(100);
    settleAndCheck(c);
  });

  // Proves a persisted snapshot counts as committed on restart even when the hard state written
  // after it was lost (found by the sweep at seed 348).
  it("crash during snapshot write (InstallSnapshot persisted, hard state not yet): restart is consistent", () => {
    const c = make({ node: { snapshotEvery: 5, keepEntries: 0 } });
    const leader = awaitLeader(c);
    const lagger = leader === 3 ? 2 : 3;
    c.crash(lagger);
    for (let k = 0; k < 20; k++) complete(c, 1, { kind: "append", key: "c", value: `${k};` });
    c.restart(lagger);
    c.crashDuringReady(lagger, "after-snapshot-persist", 300);
    expect(c.runUntil(() => !c.node(lagger).alive, 300)).toBe(true);
    expect(c.node(lagger).storage.snapshot().metadata.index).toBeGreaterThan(0);
    c.restart(lagger);
    settleAndCheck(c);
    expect(c.node(lagger).kv.read("c")).toBe(c.node(leader).kv.read("c"));
  });

  it("duplicate client proposals are applied once, and every copy gets the first answer", () => {
    const c = make();
    const leader = awaitLeader(c);
    const follower = leader === 1 ? 2 : 1;
    const cmd = {
      clientId: 1,
      seq: 1,
      ackedSeq: 0,
      input: { kind: "append" as const, key: "d", value: "once;" },
    };
    expect(c.submitCommand(leader, cmd)).toBe(true);
    expect(c.submitCommand(leader, cmd)).toBe(true);
    expect(c.submitCommand(follower, cmd)).toBe(true); // forwarded to the leader
    c.run(50);
    c.submitCommand(leader, cmd); // a late retry after it was applied
    c.run(50);
    for (const n of c.liveNodes()) {
      expect(n.kv.read("d")).toBe("once;");
      expect(n.kv.appliedCommands).toBe(1);
    }
    // And end to end: a client whose leader crashes after proposing retries elsewhere, still once.
    c.crashDuringReady(leader, "after-send", 5);
    c.issue(2, { kind: "append", key: "e", value: "one;" }, { target: leader });
    expect(c.runUntil(() => !c.clients[1]!.busy, 600)).toBe(true);
    c.restart(leader);
    settleAndCheck(c);
    expect(c.history.ops[c.history.ops.length - 1]!.output).toEqual({ kind: "done" });
    for (const n of c.liveNodes()) expect(n.kv.read("e")).toBe("one;");
  });
});
