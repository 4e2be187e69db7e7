/**
 * Rules of the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable Consensus
 * Algorithm"), one test per rule, named after the section — like etcd's raft_paper_test.go.
 */
import { describe, expect, it } from "vitest";
import { MemoryStorage } from "./memory-storage.js";
import { type Message, MessageType } from "./message.js";
import { RawNode } from "./raw-node.js";
import { StateType } from "./ready.js";
import { conf, enc, TestNetwork } from "./test-network.test-helpers.js";
import { type Entry, EntryType } from "./types.js";

const E = (index: number, term: number, data = ""): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: enc(data),
});

/** A lone node over MemoryStorage whose Readies are persisted and whose messages are returned. */
function lone(
  id: number,
  voters: number[],
  opts: { random?: () => number; log?: Entry[]; term?: number } = {},
) {
  const storage = new MemoryStorage(conf(voters));
  if (opts.log) storage.append(opts.log);
  if (opts.term) storage.setHardState({ term: opts.term, vote: 0, commit: 0 });
  const raw = new RawNode(
    { id, random: opts.random ?? (() => 0), preVote: false, checkQuorum: false },
    storage,
  );
  const drain = (): Message[] => {
    const out: Message[] = [];
    while (raw.hasReady()) {
      const rd = raw.ready();
      storage.append(rd.entries);
      if (rd.hardState) storage.setHardState(rd.hardState);
      out.push(...rd.messages);
      raw.advance(rd);
    }
    return out;
  };
  return { raw, storage, drain };
}

const msg = (
  type: MessageType,
  from: number,
  to: number,
  fields: Partial<Message> = {},
): Message => ({
  type,
  from,
  to,
  term: 0,
  logTerm: 0,
  index: 0,
  entries: [],
  commit: 0,
  reject: false,
  rejectHint: 0,
  ...fields,
});

describe("§5.1 server states and terms", () => {
  it("§5.1 a server starts as a follower; a fresh cluster's configuration is committed in term 1", () => {
    const { raw } = lone(1, [1, 2, 3]);
    // The initial configuration is written to the log as entries 1..3 (one per voter).
    expect(raw.status()).toMatchObject({
      state: StateType.Follower,
      term: 1,
      commit: 3,
      lastIndex: 3,
    });
  });

  it("§5.1 a leader that sees a higher term reverts to follower and adopts the term", () => {
    const net = new TestNetwork([1, 2, 3], { preVote: false, checkQuorum: false });
    net.campaign(1);
    expect(net.raw(1).status().state).toBe(StateType.Leader);
    net.raw(1).step(msg(MessageType.App, 2, 1, { term: 5 }));
    expect(net.raw(1).status().state).toBe(StateType.Follower);
    expect(net.raw(1).status().term).toBe(5);
  });

  it("§5.1 a request with a stale term is rejected", () => {
    const { raw, drain } = lone(1, [1, 2, 3], { term: 3 });
    raw.step(msg(MessageType.Vote, 2, 1, { term: 2, index: 10, logTerm: 2 }));
    const out = drain();
    expect(out).toEqual([
      expect.objectContaining({ type: MessageType.VoteResp, reject: true, term: 3 }),
    ]);
  });
});

describe("§5.2 leader election", () => {
  it("§5.2 a follower that times out starts an election: new term, votes for itself, asks all peers", () => {
    const { raw, drain } = lone(1, [1, 2, 3], { random: () => 0 });
    for (let i = 0; i < 9; i++) raw.tick();
    expect(drain()).toEqual([]);
    raw.tick();
    const out = drain();
    expect(raw.status()).toMatchObject({ state: StateType.Candidate, term: 2, vote: 1 });
    expect(
      out.filter((m) => m.type === MessageType.Vote).map((m) => [m.to, m.term, m.index, m.logTerm]),
    ).toEqual([
      [2, 2, 3, 1],
      [3, 2, 3, 1],
    ]);
  });

  it("§5.2 the election timeout is randomized in [electionTick, 2*electionTick) from the injected RNG", () => {
    const ticksToCampaign = (r: number) => {
      const { raw } = lone(1, [1, 2, 3], { random: () => r });
      let n = 0;
      while (raw.status().state === StateType.Follower && n < 100) {
        raw.tick();
        n++;
      }
      return n;
    };
    expect(ticksToCampaign(0)).toBe(10);
    expect(ticksToCampaign(0.5)).toBe(15);
    expect(ticksToCampaign(0.9999)).toBe(19);
  });

  it("§5.2 a candidate that wins a majority becomes leader and asserts itself with an append", () => {
    const { raw, drain } = lone(1, [1, 2, 3]);
    raw.campaign();
    drain();
    raw.step(msg(MessageType.VoteResp, 2, 1, { term: 2 }));
    expect(raw.status().state).toBe(StateType.Leader);
    const apps = drain().filter((m) => m.type === MessageType.App);
    expect(apps.map((m) => m.to).sort()).toEqual([2, 3]);
    // The new leader's first entry is an empty entry of its own term.
    expect(apps[0]!.entries).toEqual([expect.objectContaining({ index: 4, term: 2 })]);
  });

  it("§5.2 a candidate that loses the majority returns to follower", () => {
    const { raw, drain } = lone(1, [1, 2, 3]);
    raw.campaign();
    drain();
    raw.step(msg(MessageType.VoteResp, 2, 1, { term: 2, reject: true }));
    raw.step(msg(MessageType.VoteResp, 3, 1, { term: 2, reject: true }));
    expect(raw.status().state).toBe(StateType.Follower);
  });

  it("§5.2 each server votes for at most one candidate per term (first come, first served)", () => {
    const { raw, drain } = lone(1, [1, 2, 3]);
    const req = { term: 2, index: 3, logTerm: 1 };
    raw.step(msg(MessageType.Vote, 2, 1, req));
    raw.step(msg(MessageType.Vote, 3, 1, req));
    raw.step(msg(MessageType.Vote, 2, 1, req)); // a retry from the same candidate
    const votes = drain()
      .filter((m) => m.type === MessageType.VoteResp)
      .map((m) => [m.to, m.reject]);
    expect(votes).toEqual([
      [2, false],
      [3, true],
      [2, false],
    ]);
  });

  it("§5.2 a candidate that hears from a leader of its term becomes its follower", () => {
    const { raw, drain } = lone(1, [1, 2, 3]);
    raw.campaign();
    drain();
    raw.step(msg(MessageType.App, 2, 1, { term: 2, index: 3, logTerm: 1 }));
    expect(raw.status()).toMatchObject({ state: StateType.Follower, lead: 2, term: 2 });
  });

  it("§5.2 a three-node cluster elects exactly one leader and everyone knows it", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.tickAll(30);
    expect(net.leaders()).toHaveLength(1);
    const lead = net.leaders()[0]!;
    for (const id of [1, 2, 3]) expect(net.raw(id).status().lead).toBe(lead);
  });
});

describe("§5.3 log replication", () => {
  it("§5.3 the leader commits an entry once a majority stores it, and every node applies it in order", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.isolate(3);
    net.raw(1).propose(enc("a"));
    net.raw(1).propose(enc("b"));
    net.settle();
    expect(net.appliedData(1)).toEqual(["a", "b"]);
    expect(net.appliedData(2)).toEqual(["a", "b"]);
    expect(net.appliedData(3)).toEqual([]);
    net.heal();
    net.tickAll(2);
    expect(net.appliedData(3)).toEqual(["a", "b"]);
  });

  it("§5.3 a follower rejects an append whose preceding entry does not match (consistency check)", () => {
    const { raw, drain } = lone(2, [1, 2, 3], { log: [E(1, 1), E(2, 1)], term: 2 });
    raw.step(msg(MessageType.App, 1, 2, { term: 2, index: 2, logTerm: 2, entries: [E(3, 2)] }));
    const [resp] = drain();
    expect(resp).toMatchObject({ type: MessageType.AppResp, reject: true, index: 2 });
    expect(raw.status().lastIndex).toBe(2);
  });

  it("§5.3 a follower drops a conflicting uncommitted suffix and takes the leader's entries", () => {
    const { raw, drain, storage } = lone(2, [1, 2, 3], {
      log: [E(1, 1), E(2, 1, "x"), E(3, 1, "y")],
      term: 1,
    });
    raw.step(
      msg(MessageType.App, 1, 2, {
        term: 2,
        index: 1,
        logTerm: 1,
        entries: [E(2, 2, "z")],
        commit: 1,
      }),
    );
    const [resp] = drain();
    expect(resp).toMatchObject({ type: MessageType.AppResp, reject: false, index: 2 });
    expect(storage.lastIndex()).toBe(2);
    expect(storage.term(2)).toBe(2);
  });

  it("§5.3 fast backtracking finds the conflict in one round trip per term", () => {
    // Node 2 holds 25 uncommitted entries of a deposed term-2 leader; the new leader's log
    // diverges after index 5. Without the hint this takes ~25 rejected probes.
    const t1 = [1, 2, 3, 4, 5].map((i) => E(i, 1));
    const leaderLog = [...t1, ...[6, 7, 8, 9, 10].map((i) => E(i, 3))];
    const staleLog = [...t1, ...Array.from({ length: 25 }, (_, k) => E(6 + k, 2))];
    const net = new TestNetwork([1, 2, 3], { preVote: false, checkQuorum: false });
    net.node(1).storage.append(leaderLog);
    net.node(1).storage.setHardState({ term: 3, vote: 0, commit: 5 });
    net.node(3).storage.append(leaderLog);
    net.node(3).storage.setHardState({ term: 3, vote: 0, commit: 5 });
    net.node(2).storage.append(staleLog);
    net.node(2).storage.setHardState({ term: 2, vote: 0, commit: 5 });
    for (const id of [1, 2, 3]) net.restart(id);
    net.campaign(1);
    expect(net.raw(1).status().state).toBe(StateType.Leader);
    const rejects = net.sent.filter(
      (m) => m.type === MessageType.AppResp && m.from === 2 && m.reject,
    );
    expect(rejects.length).toBe(1);
    expect(net.node(2).storage.lastIndex()).toBe(11);
    expect(net.node(2).storage.term(10)).toBe(3);
  });

  it("§5.3 a lagging follower is found in one round trip (hint = its last index)", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.isolate(2);
    for (let i = 0; i < 50; i++) net.raw(1).propose(enc(`v${i}`));
    net.settle();
    const before = net.sent.length;
    net.heal();
    net.tickAll(3);
    const rejects = net.sent
      .slice(before)
      .filter((m) => m.type === MessageType.AppResp && m.from === 2 && m.reject);
    expect(rejects.length).toBeLessThanOrEqual(1);
    expect(net.appliedData(2)).toHaveLength(50);
  });
});

describe("§5.4 safety", () => {
  it("§5.4.1 a candidate with a stale log is denied", () => {
    // Voter log: [t1, t1, t2] (last index 3, last term 2).
    const cases: [number, number, boolean][] = [
      [5, 1, false], // longer but older last term
      [2, 2, false], // same last term, shorter
      [3, 2, true], // identical
      [1, 3, true], // newer last term wins regardless of length
    ];
    for (const [index, logTerm, granted] of cases) {
      const { raw, drain } = lone(1, [1, 2, 3], { log: [E(1, 1), E(2, 1), E(3, 2)], term: 2 });
      raw.step(msg(MessageType.Vote, 2, 1, { term: 3, index, logTerm }));
      const [resp] = drain();
      expect({ index, logTerm, reject: resp!.reject }).toEqual({
        index,
        logTerm,
        reject: !granted,
      });
    }
  });

  it("§5.4.2 Figure 8: a leader never commits an entry from an earlier term by counting replicas", () => {
    const net = new TestNetwork([1, 2, 3, 4, 5], {
      preVote: false,
      checkQuorum: false,
      maxSizePerMsg: 1,
    });
    // (a) S1 leads and replicates "A" (at index a) to S2 only.
    net.campaign(1);
    const committedBefore = net.raw(1).status().commit;
    const a = committedBefore + 1;
    net.partition([1, 2], [3, 4, 5]);
    net.raw(1).propose(enc("A"));
    net.settle();
    const termA = net.node(1).storage.term(a);
    expect(net.node(2).storage.lastIndex()).toBe(a);
    // (b) S1 crashes; S5 wins the next term with S3, S4 and appends its own entry at index a,
    //     which reaches nobody.
    net.heal();
    net.isolate(1);
    net.isolate(2);
    net.filter = (m) => !(m.from === 5 && m.type === MessageType.App);
    net.campaign(5);
    expect(net.raw(5).status().state).toBe(StateType.Leader);
    const termB = net.node(5).storage.term(a);
    expect(termB).toBeGreaterThan(termA);
    // (c) S5 crashes; S1 restarts and wins a later term, then replicates "A" to S3. Messages
    //     carrying its own new-term entries (index > a) are lost, so "A" sits on S1, S2, S3 —
    //     a majority of five.
    net.heal();
    net.isolate(5);
    net.restart(1);
    net.filter = (m) => {
      if (m.type === MessageType.App) m.entries = m.entries.filter((e) => e.index <= a);
      return true;
    };
    net.campaign(1); // S3 and S4 already voted for S5 in this term: lost
    net.campaign(1); // the next term: wins with S2, S3, S4
    expect(net.raw(1).status().state).toBe(StateType.Leader);
    expect(net.node(3).storage.term(a)).toBe(termA);
    // The rule under test: a majority holds index a, but it is from an earlier term, so the
    // leader does not commit it.
    expect(net.raw(1).status().commit).toBe(committedBefore);
    // (d) S1 crashes again; S5 returns and is elected (its last term beats termA) and
    //     overwrites index a everywhere — legal only because it was never committed.
    net.heal();
    net.isolate(1);
    net.restart(5);
    net.campaign(5); // everyone already voted for S1 in this term
    net.campaign(5); // the next term: S2, S3, S4 vote for S5
    expect(net.raw(5).status().state).toBe(StateType.Leader);
    net.tickAll(3);
    for (const id of [2, 3, 4, 5]) expect(net.node(id).storage.term(a)).toBe(termB);
    net.heal();
    net.tickAll(3);
    for (const id of [1, 2, 3, 4, 5]) expect(net.appliedData(id)).not.toContain("A");
    expect(net.node(1).storage.term(a)).toBe(termB);
  });

  it("§5.4.2 committing an entry of the current term commits the earlier entries before it", () => {
    const net = new TestNetwork([1, 2, 3], { preVote: false, checkQuorum: false });
    net.campaign(1);
    net.partition([1], [2, 3]);
    net.raw(1).propose(enc("old"));
    net.settle();
    net.heal();
    net.restart(1);
    net.campaign(1);
    for (const id of [1, 2, 3]) expect(net.appliedData(id)).toEqual(["old"]);
  });

  it("§5.4.3 leader completeness: a new leader holds every committed entry", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    for (let i = 0; i < 5; i++) net.raw(1).propose(enc(`c${i}`));
    net.settle();
    net.isolate(1);
    net.tickAll(40);
    const lead = net.leaders().find((id) => id !== 1)!;
    expect(lead).toBeDefined();
    expect(net.appliedData(lead)).toEqual(["c0", "c1", "c2", "c3", "c4"]);
  });
});
