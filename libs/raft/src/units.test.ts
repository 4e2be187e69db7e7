/** Building blocks: configuration validation, quorum math, codecs, storage and invariants. */
import { describe, expect, it } from "vitest";
import { ConfChangeType, decodeConfChange, encodeConfChange } from "./conf-change.js";
import { resolveConfig } from "./config.js";
import {
  RaftArgumentError,
  RaftConfigError,
  RaftDecodeError,
  RaftInvariantError,
} from "./errors.js";
import { Inflights } from "./inflights.js";
import { MemoryStorage } from "./memory-storage.js";
import { type Message, MessageType, newMessage } from "./message.js";
import { JointConfig, MajorityConfig, VoteResult } from "./quorum.js";
import { RaftLog } from "./raft-log.js";
import { RawNode } from "./raw-node.js";
import { type Ready, StateType, splitLeaderMessages } from "./ready.js";
import { CompactedError, UnavailableError } from "./storage.js";
import { enc } from "./test-network.test-helpers.js";
import { type Entry, EntryType } from "./types.js";

const E = (index: number, term: number): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: enc(""),
});
const rnd = () => 0;

describe("config", () => {
  it("fills in the documented defaults", () => {
    expect(resolveConfig({ id: 1, random: rnd })).toMatchObject({
      electionTick: 10,
      heartbeatTick: 1,
      preVote: true,
      checkQuorum: true,
      readOnlyOption: "safe",
    });
  });

  it.each([
    [{ id: 0 }, "id"],
    [{ id: 1.5 }, "id"],
    [{ random: undefined }, "random"],
    [{ electionTick: 1, heartbeatTick: 1 }, "electionTick"],
    [{ heartbeatTick: -1 }, "heartbeatTick"],
    [{ maxInflightMsgs: 0 }, "maxInflightMsgs"],
    [{ snapshotChunkSize: 0 }, "snapshotChunkSize"],
    [{ readOnlyOption: "lease-based", checkQuorum: false }, "readOnlyOption"],
    [{ preVote: "yes" }, "preVote"],
  ])("rejects %j with a RaftConfigError naming %s", (patch, field) => {
    let err: unknown;
    try {
      resolveConfig({ id: 1, random: rnd, ...(patch as object) } as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RaftConfigError);
    expect((err as RaftConfigError).field).toBe(field);
    expect((err as RaftConfigError).code).toBe("TESSERA_E_RAFT_CONFIG");
  });
});

describe("quorum", () => {
  it("the committed index is the highest index a majority has reached", () => {
    const m = new MajorityConfig([1, 2, 3, 4, 5]);
    const match = new Map([
      [1, 10],
      [2, 8],
      [3, 8],
      [4, 2],
      [5, 1],
    ]);
    expect(m.committedIndex((id) => match.get(id) ?? 0)).toBe(8);
    expect(new MajorityConfig([1, 2]).committedIndex((id) => (id === 1 ? 5 : 3))).toBe(3);
  });

  it("a joint configuration needs both majorities", () => {
    const j = new JointConfig(new MajorityConfig([1, 2, 3]), new MajorityConfig([3, 4, 5]));
    const match = new Map([
      [1, 9],
      [2, 9],
      [3, 4],
      [4, 2],
      [5, 1],
    ]);
    expect(j.committedIndex((id) => match.get(id) ?? 0)).toBe(2);
    const votes = new Map([
      [1, true],
      [2, true],
    ]);
    expect(j.voteResult(votes)).toBe(VoteResult.Pending);
    votes.set(4, false);
    votes.set(5, false);
    expect(j.voteResult(votes)).toBe(VoteResult.Lost);
  });

  it("vote results: won, lost, pending", () => {
    const m = new MajorityConfig([1, 2, 3]);
    expect(m.voteResult(new Map([[1, true]]))).toBe(VoteResult.Pending);
    expect(
      m.voteResult(
        new Map([
          [1, true],
          [2, true],
        ]),
      ),
    ).toBe(VoteResult.Won);
    expect(
      m.voteResult(
        new Map([
          [1, false],
          [2, false],
        ]),
      ),
    ).toBe(VoteResult.Lost);
  });
});

describe("inflights", () => {
  it("is a bounded window freed by acknowledgement", () => {
    const w = new Inflights(3);
    w.add(5);
    w.add(7);
    w.add(9);
    expect(w.full()).toBe(true);
    expect(() => w.add(11)).toThrow(RaftInvariantError);
    w.freeLE(7);
    expect(w.count).toBe(1);
    w.add(11);
    w.add(13);
    w.freeLE(100);
    expect(w.count).toBe(0);
  });
});

describe("conf change codec", () => {
  it("round-trips and rejects malformed bytes with a typed error", () => {
    const cc = { type: ConfChangeType.AddLearner, nodeId: 42, context: enc("host:port") };
    expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
    expect(
      decodeConfChange(encodeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 7 })),
    ).toEqual({
      type: ConfChangeType.RemoveNode,
      nodeId: 7,
    });
    expect(() => decodeConfChange(new Uint8Array(3))).toThrow(RaftDecodeError);
    const bad = encodeConfChange(cc);
    bad[1] = 99;
    expect(() => decodeConfChange(bad)).toThrow(RaftDecodeError);
  });
});

describe("MemoryStorage", () => {
  it("answers like etcd's MemoryStorage across append, compaction and snapshots", () => {
    const s = new MemoryStorage();
    s.append([E(1, 1), E(2, 1), E(3, 2)]);
    expect([s.firstIndex(), s.lastIndex(), s.term(3)]).toEqual([1, 3, 2]);
    s.append([E(3, 3), E(4, 3)]); // conflicting suffix is replaced
    expect([s.lastIndex(), s.term(3)]).toEqual([4, 3]);
    s.createSnapshot(2, { voters: [1], learners: [], votersOutgoing: [] }, enc("img"));
    s.compact(2);
    expect([s.firstIndex(), s.term(2)]).toEqual([3, 1]);
    expect(() => s.entries(2, 4)).toThrow(CompactedError);
    expect(() => s.term(9)).toThrow(UnavailableError);
    expect(s.entries(3, 5).map((e) => e.index)).toEqual([3, 4]);
    expect(() => s.append([E(9, 3)])).toThrow(RaftInvariantError); // a gap
  });

  it("entries honours maxBytes but always returns at least one entry", () => {
    const s = new MemoryStorage();
    s.append(
      [1, 2, 3].map((i) => ({
        index: i,
        term: 1,
        type: EntryType.Normal,
        data: new Uint8Array(100),
      })),
    );
    expect(s.entries(1, 4, 1).length).toBe(1);
    expect(s.entries(1, 4, 240).length).toBe(2);
  });
});

describe("raft log invariants", () => {
  it("the commit index never decreases and never passes the last index", () => {
    const s = new MemoryStorage();
    s.append([E(1, 1), E(2, 1)]);
    const log = new RaftLog(s, Number.MAX_SAFE_INTEGER);
    log.commitTo(2);
    log.commitTo(1);
    expect(log.committed).toBe(2);
    expect(() => log.commitTo(3)).toThrow(RaftInvariantError);
  });

  it("a committed entry is never truncated", () => {
    const s = new MemoryStorage();
    s.append([E(1, 1), E(2, 1), E(3, 1)]);
    const log = new RaftLog(s, Number.MAX_SAFE_INTEGER);
    log.commitTo(3);
    expect(() => log.maybeAppend(1, 1, 3, [E(2, 2)])).toThrow(RaftInvariantError);
    expect(() => log.append([E(2, 2)])).toThrow(RaftInvariantError);
  });

  it("findConflictByTerm skips a whole term at once", () => {
    const s = new MemoryStorage();
    s.append([E(1, 1), E(2, 1), E(3, 2), E(4, 2), E(5, 4), E(6, 4)]);
    const log = new RaftLog(s, Number.MAX_SAFE_INTEGER);
    expect(log.findConflictByTerm(6, 3)).toEqual({ index: 4, term: 2 });
    expect(log.findConflictByTerm(6, 1)).toEqual({ index: 2, term: 1 });
    expect(log.findConflictByTerm(6, 5)).toEqual({ index: 6, term: 4 });
  });
});

describe("RawNode input validation and Ready contract", () => {
  const node = () =>
    new RawNode(
      { id: 1, random: rnd },
      new MemoryStorage({ voters: [1, 2, 3], learners: [], votersOutgoing: [] }),
    );
  const base = {
    type: MessageType.Heartbeat,
    to: 1,
    from: 2,
    term: 1,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
  };

  it("a malformed peer message is a typed error naming the field", () => {
    const cases: [object, string][] = [
      [{ type: 99 }, "type"],
      [{ term: -1 }, "term"],
      [{ commit: Number.NaN }, "commit"],
      [{ entries: "x" }, "entries"],
      [{ entries: [{ index: 1, term: 1, data: "x" }] }, "entries"],
      [{ type: MessageType.Snap }, "snapshotChunk"],
      [{ to: 7 }, "to"],
      [{ type: MessageType.Hup }, "type"],
    ];
    for (const [patch, field] of cases) {
      let err: unknown;
      try {
        node().step({ ...base, ...patch } as never);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(patch)).toBeInstanceOf(RaftArgumentError);
      expect((err as RaftArgumentError).field).toBe(field);
    }
  });

  it("ready() must be followed by advance(rd) with that Ready; mustSync reflects what changed", () => {
    const n = node();
    const rd = n.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([1, 2, 3]); // the initial configuration
    expect(rd.mustSync).toBe(true);
    expect(() => n.ready()).toThrow(RaftArgumentError);
    expect(() => n.advance({ ...rd })).toThrow(RaftArgumentError);
    n.advance(rd);
    expect(n.hasReady()).toBe(false);
    n.step({ ...base, commit: 3 }); // a heartbeat: only a message to send, nothing to persist
    const rd2 = n.ready();
    expect(rd2.mustSync).toBe(false);
    expect(rd2.messages.map((m) => m.type)).toEqual([MessageType.HeartbeatResp]);
    n.advance(rd2);
  });
});

describe("restart from storage", () => {
  it("a snapshot persisted before the hard state that covers it counts as committed after a crash", () => {
    const s = new MemoryStorage();
    s.append([1, 2, 3, 4, 5].map((i) => E(i, 1)));
    s.createSnapshot(4, { voters: [1, 2, 3], learners: [], votersOutgoing: [] }, enc("img"));
    s.compact(4);
    s.setHardState({ term: 1, vote: 0, commit: 2 }); // the write that would have said commit 4 was lost
    const n = new RawNode({ id: 1, random: rnd }, s);
    expect(n.status().commit).toBe(4);
    const rd = n.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: 0, commit: 4 });
    expect(rd.committedEntries).toEqual([]); // everything up to 4 is in the snapshot
    n.advance(rd);
  });

  it("a persisted commit index beyond the persisted log is refused (lost entries)", () => {
    const s = new MemoryStorage({ voters: [1], learners: [], votersOutgoing: [] });
    s.append([E(1, 1)]);
    s.setHardState({ term: 1, vote: 0, commit: 5 });
    expect(() => new RawNode({ id: 1, random: rnd }, s)).toThrow(RaftInvariantError);
  });
});

describe("splitLeaderMessages (leader replicates in parallel with its own write)", () => {
  const conf = { voters: [1, 2, 3], learners: [], votersOutgoing: [] };
  /** Runs node 1 through a (non-pre-vote) election it wins; returns it with its term. */
  function electedLeader(): { node: RawNode; storage: MemoryStorage; term: number } {
    const storage = new MemoryStorage(conf);
    const node = new RawNode({ id: 1, random: rnd, preVote: false }, storage);
    node.campaign();
    const campaign = node.ready();
    storage.append(campaign.entries);
    // A candidate's vote requests follow its persisted vote: never early.
    const split = splitLeaderMessages(campaign, campaign.softState!.state, 0);
    expect(split.beforePersist).toEqual([]);
    expect(split.afterPersist.map((m) => m.type)).toEqual([MessageType.Vote, MessageType.Vote]);
    node.advance(campaign);
    const term = campaign.hardState!.term;
    node.step(newMessage(MessageType.VoteResp, { from: 2, to: 1, term }));
    return { node, storage, term };
  }

  it("a steady leader's appends may leave before its write; a term change may not", () => {
    const { node, storage, term } = electedLeader();
    const won = node.ready();
    expect(won.softState?.state).toBe(StateType.Leader);
    storage.append(won.entries);
    expect(won.messages.some((m) => m.type === MessageType.App)).toBe(true);
    // The Ready of the term it just persisted: appends are early.
    const steady = splitLeaderMessages(won, StateType.Leader, term);
    expect(steady.afterPersist).toEqual([]);
    expect(steady.beforePersist).toEqual(won.messages);
    // Had the term in that Ready not been durable yet, everything waits.
    const unpersisted = splitLeaderMessages(won, StateType.Leader, term - 1);
    expect(unpersisted.beforePersist).toEqual([]);
    node.advance(won);
    // Both followers acknowledge the new term's no-op; that commit's Ready is the last of the
    // election, and its appends (carrying the commit index) are early too.
    const noop = won.entries[won.entries.length - 1]!.index;
    for (const from of [2, 3]) {
      node.step(newMessage(MessageType.AppResp, { from, to: 1, term, index: noop }));
    }
    const committed = node.ready();
    expect(committed.committedEntries.map((e) => e.index)).toContain(noop);
    expect(splitLeaderMessages(committed, StateType.Leader, term).afterPersist).toEqual([]);
    node.advance(committed);
    node.propose(enc("x"));
    const proposal = node.ready();
    expect(proposal.entries).toHaveLength(1);
    // Nothing acknowledged the proposal yet, so its Ready cannot commit it.
    expect(proposal.committedEntries).toEqual([]);
    expect(splitLeaderMessages(proposal, StateType.Leader, term).beforePersist).toHaveLength(2);
  });

  it("everything else waits for the write: followers, acknowledgements, snapshots", () => {
    const resp = newMessage(MessageType.AppResp, { from: 1, to: 2, term: 3, index: 5 });
    const app = newMessage(MessageType.App, { from: 1, to: 2, term: 3 });
    const rd = (messages: Message[], extra: Partial<Ready> = {}): Ready => ({
      entries: [],
      committedEntries: [],
      messages,
      readStates: [],
      mustSync: false,
      ...extra,
    });
    expect(splitLeaderMessages(rd([resp]), StateType.Follower, 3).beforePersist).toEqual([]);
    expect(splitLeaderMessages(rd([app]), StateType.Candidate, 3).beforePersist).toEqual([]);
    const mixed = splitLeaderMessages(
      rd([app, newMessage(MessageType.TimeoutNow, { from: 1, to: 2, term: 3 })]),
      StateType.Leader,
      3,
    );
    expect(mixed.beforePersist).toEqual([app]);
    expect(mixed.afterPersist.map((m) => m.type)).toEqual([MessageType.TimeoutNow]);
    const snap = {
      metadata: { index: 9, term: 3, confState: conf },
      data: new Uint8Array(0),
    };
    expect(
      splitLeaderMessages(rd([app], { snapshot: snap }), StateType.Leader, 3).beforePersist,
    ).toEqual([]);
  });
});
