import { type Entry, EntryType, MemoryStorage } from "@tessera/raft";
import { describe, expect, it } from "vitest";
import { InvariantChecker, InvariantViolation } from "./invariants.js";

const cs = { voters: [1, 2, 3], learners: [], votersOutgoing: [] };
const ent = (index: number, term: number, data = `e${index}`): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: new TextEncoder().encode(data),
});

function persisted(entries: Entry[]): MemoryStorage {
  const st = new MemoryStorage(cs);
  st.append(entries);
  return st;
}

function violation(f: () => void): InvariantViolation {
  try {
    f();
  } catch (e) {
    if (e instanceof InvariantViolation) return e;
    throw e;
  }
  throw new Error("expected an InvariantViolation");
}

describe("InvariantChecker", () => {
  it("election safety: a second leader in the same term is a violation, in a later term it is not", () => {
    const c = new InvariantChecker();
    const log = persisted([]);
    c.onLeader(1, 2, log);
    c.onLeader(2, 3, log);
    expect(violation(() => c.onLeader(3, 2, log)).invariant).toBe("election-safety");
  });

  it("log matching: the same (index, term) with different data or a different predecessor is a violation", () => {
    const c = new InvariantChecker();
    c.onPersistEntries(1, [ent(1, 1), ent(2, 1)], persisted([ent(1, 1), ent(2, 1)]));
    c.onPersistEntries(2, [ent(1, 1), ent(2, 1)], persisted([ent(1, 1), ent(2, 1)]));
    const other = [ent(1, 1), ent(2, 1, "different")];
    expect(violation(() => c.onPersistEntries(3, other, persisted(other))).invariant).toBe(
      "log-matching",
    );
    const c2 = new InvariantChecker();
    c2.onPersistEntries(1, [ent(1, 1), ent(2, 2)], persisted([ent(1, 1), ent(2, 2)]));
    const skewed = [ent(1, 2, "x"), ent(2, 2)];
    expect(violation(() => c2.onPersistEntries(2, skewed, persisted(skewed))).message).toMatch(
      /preceding term/,
    );
  });

  it("leader completeness: a later-term leader missing a committed entry is a violation", () => {
    const c = new InvariantChecker();
    const full = persisted([ent(1, 1), ent(2, 1)]);
    c.onPersistEntries(1, [ent(1, 1), ent(2, 1)], full);
    c.onHardState(1, { term: 1, vote: 1, commit: 2 }, full);
    c.onLeader(2, 2, full); // has everything: fine
    const short = persisted([ent(1, 1)]);
    expect(violation(() => c.onLeader(3, 3, short)).invariant).toBe("leader-completeness");
    // A stale leader of the committing term or earlier may lack it.
    c.onLeader(3, 1, short);
  });

  it("state machine safety: applying different data at an index, or out of order, is a violation", () => {
    const c = new InvariantChecker();
    const log = persisted([ent(1, 1), ent(2, 1)]);
    c.onHardState(1, { term: 1, vote: 1, commit: 2 }, log);
    c.onHardState(2, { term: 1, vote: 1, commit: 2 }, log);
    c.onApply(1, ent(1, 1));
    c.onApply(2, ent(1, 1));
    c.onApply(1, ent(2, 1));
    expect(violation(() => c.onApply(2, ent(2, 1, "other"))).invariant).toBe(
      "state-machine-safety",
    );
    const c2 = new InvariantChecker();
    c2.onHardState(1, { term: 1, vote: 1, commit: 2 }, log);
    expect(violation(() => c2.onApply(1, ent(2, 1))).invariant).toBe("apply-order");
    expect(violation(() => new InvariantChecker().onApply(1, ent(1, 1))).message).toMatch(
      /beyond its commit/,
    );
  });

  it("commit indices never go backwards", () => {
    const c = new InvariantChecker();
    const log = persisted([ent(1, 1), ent(2, 1)]);
    c.onHardState(1, { term: 1, vote: 1, commit: 2 }, log);
    expect(violation(() => c.onHardState(1, { term: 1, vote: 1, commit: 1 }, log)).invariant).toBe(
      "commit-monotonic",
    );
  });
});
