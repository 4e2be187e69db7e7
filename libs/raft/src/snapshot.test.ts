/** Log compaction and chunked InstallSnapshot (paper §7, dissertation §5). */
import { describe, expect, it } from "vitest";
import { type Message, MessageType } from "./message.js";
import { enc, TestNetwork } from "./test-network.test-helpers.js";

const image = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7) % 251);

/** A 3-node cluster whose follower 3 missed 20 entries that the leader then compacted away. */
function lagging(cfg = {}) {
  const net = new TestNetwork([1, 2, 3], { snapshotChunkSize: 100, ...cfg });
  net.campaign(1);
  net.isolate(3);
  for (let i = 0; i < 20; i++) net.raw(1).propose(enc(`v${i}`));
  net.settle();
  const leader = net.node(1);
  const data = image(1050);
  leader.storage.createSnapshot(leader.appliedIndex, leader.confState, data);
  leader.storage.compact(leader.appliedIndex);
  return { net, data, snapIndex: leader.appliedIndex };
}

const snapChunks = (msgs: Message[]) =>
  msgs.filter((m) => m.type === MessageType.Snap && m.to === 3);

describe("§7 snapshots", () => {
  it("§7 snapshot chunks install a lagging follower after compaction", () => {
    const { net, data, snapIndex } = lagging();
    const before = net.sent.length;
    net.heal();
    net.tickAll(3);
    const chunks = snapChunks(net.sent.slice(before));
    expect(chunks.map((m) => m.snapshotChunk!.offset)).toEqual([
      0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000,
    ]);
    expect(chunks.every((m) => m.snapshotChunk!.data.length <= 100)).toBe(true);
    expect(chunks.at(-1)!.snapshotChunk!.done).toBe(true);
    const n3 = net.node(3);
    expect(n3.restoredFrom?.data).toEqual(data);
    expect(n3.restoredFrom?.metadata.index).toBe(snapIndex);
    expect(n3.storage.firstIndex()).toBe(snapIndex + 1);
    // Replication continues normally after the install.
    net.raw(1).propose(enc("after"));
    net.settle();
    expect(net.appliedData(3)).toEqual(["after"]);
    expect(net.raw(1).status().progress?.get(3)?.state).toBe("replicate");
  });

  it("§7 a lost chunk is retransmitted after the follower reports the gap", () => {
    const { net, data } = lagging();
    let dropped = false;
    net.heal();
    net.filter = (m) => {
      if (m.type === MessageType.Snap && m.snapshotChunk!.offset === 300 && !dropped) {
        dropped = true;
        return false;
      }
      return true;
    };
    const before = net.sent.length;
    net.tickAll(3);
    expect(dropped).toBe(true);
    const at300 = snapChunks(net.sent.slice(before)).filter((m) => m.snapshotChunk!.offset === 300);
    expect(at300.length).toBe(2);
    expect(net.node(3).restoredFrom?.data).toEqual(data);
  });

  it("§7 a stalled transfer resumes from the last acknowledged chunk after an election timeout", () => {
    const { net, data } = lagging();
    net.heal();
    // Everything from offset 500 on is lost for a while (including the follower's nacks).
    net.filter = (m) => !(m.type === MessageType.Snap && m.snapshotChunk!.offset >= 500);
    net.tickAll(5);
    expect(net.node(3).restoredFrom).toBeUndefined();
    expect(net.raw(1).status().progress?.get(3)?.state).toBe("snapshot");
    net.filter = undefined;
    const before = net.sent.length;
    net.tickAll(12);
    const resent = snapChunks(net.sent.slice(before));
    expect(resent[0]!.snapshotChunk!.offset).toBe(500); // not from the start
    expect(net.node(3).restoredFrom?.data).toEqual(data);
  });

  it("§7 a follower that restarts mid-transfer gets the snapshot again from the start", () => {
    const { net, data } = lagging();
    net.heal();
    net.filter = (m) => !(m.type === MessageType.Snap && m.snapshotChunk!.offset >= 500);
    net.tickAll(3);
    net.restart(3); // its partial image is gone
    net.filter = undefined;
    net.tickAll(25);
    expect(net.node(3).restoredFrom?.data).toEqual(data);
    expect(net.appliedData(3)).toEqual([]);
    net.raw(1).propose(enc("x"));
    net.settle();
    expect(net.appliedData(3)).toEqual(["x"]);
  });

  it("§7 a failed transfer reported by the transport (reportSnapshot) restarts with a new probe", () => {
    const { net, data } = lagging();
    net.heal();
    net.filter = (m) => m.type !== MessageType.Snap; // the transport loses the whole snapshot
    net.tickAll(2);
    expect(net.raw(1).status().progress?.get(3)?.state).toBe("snapshot");
    net.raw(1).reportSnapshot(3, false);
    expect(net.raw(1).status().progress?.get(3)?.state).toBe("probe");
    net.filter = undefined;
    net.tickAll(3);
    expect(net.node(3).restoredFrom?.data).toEqual(data);
  });

  it("§7 an empty snapshot image is sent as a single done chunk", () => {
    const net = new TestNetwork([1, 2, 3], { snapshotChunkSize: 100 });
    net.campaign(1);
    net.isolate(3);
    net.raw(1).propose(enc("a"));
    net.settle();
    const l = net.node(1);
    l.storage.createSnapshot(l.appliedIndex, l.confState, new Uint8Array(0));
    l.storage.compact(l.appliedIndex);
    const before = net.sent.length;
    net.heal();
    net.tickAll(2);
    const chunks = snapChunks(net.sent.slice(before));
    expect(
      chunks.map((m) => [m.snapshotChunk!.offset, m.snapshotChunk!.total, m.snapshotChunk!.done]),
    ).toEqual([[0, 0, true]]);
    expect(net.node(3).restoredFrom?.metadata.index).toBe(l.appliedIndex);
  });

  it("§7 a transfer overtaken by further compaction is replaced by the newer snapshot", () => {
    const { net, snapIndex } = lagging();
    net.heal();
    // Node 3 installs the snapshot, but its acknowledgement is lost.
    net.filter = (m) => !(m.from === 3 && m.type === MessageType.AppResp && !m.reject);
    net.tickAll(2);
    expect(net.node(3).restoredFrom?.metadata.index).toBe(snapIndex);
    // Meanwhile the leader commits more (with node 2) and compacts past the first snapshot.
    for (let i = 0; i < 5; i++) net.raw(1).propose(enc(`w${i}`));
    net.settle();
    const l = net.node(1);
    l.storage.createSnapshot(l.appliedIndex, l.confState, image(300));
    l.storage.compact(l.appliedIndex);
    net.filter = undefined;
    net.tickAll(15);
    expect(net.node(3).restoredFrom?.metadata.index).toBe(l.appliedIndex);
    net.raw(1).propose(enc("next"));
    net.settle();
    expect(net.appliedData(3)).toEqual(["next"]);
  });
});
