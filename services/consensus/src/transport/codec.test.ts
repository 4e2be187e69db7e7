import { EntryType, type Message, MessageType, newMessage } from "@tessera/raft";
import { describe, expect, it } from "vitest";
import { decodeMessage, encodeMessage } from "./codec.js";
import { RaftCodecError } from "./errors.js";

const bytes = (...xs: number[]) => new Uint8Array(xs);

const samples: Message[] = [
  newMessage(MessageType.Heartbeat, { to: 2, from: 1, term: 7, commit: 42 }),
  newMessage(MessageType.App, {
    to: 3,
    from: 1,
    term: 2 ** 40,
    logTerm: 2 ** 40 - 1,
    index: Number.MAX_SAFE_INTEGER - 5,
    commit: 2 ** 33 + 7,
    entries: [
      { term: 5, index: 10, type: EntryType.Normal, data: bytes() },
      { term: 5, index: 11, type: EntryType.Normal, data: bytes(1, 2, 3, 255) },
      { term: 6, index: 12, type: EntryType.ConfChange, data: new Uint8Array(1000).fill(9) },
    ],
  }),
  newMessage(MessageType.AppResp, {
    to: 1,
    from: 2,
    term: 3,
    index: 9,
    reject: true,
    rejectHint: 4,
    logTerm: 2,
  }),
  newMessage(MessageType.PreVote, {
    to: 1,
    from: 2,
    term: 4,
    index: 9,
    logTerm: 3,
    transfer: true,
  }),
  newMessage(MessageType.ReadIndex, { to: 1, from: 2, term: 4, context: bytes(0, 0, 0, 1) }),
  newMessage(MessageType.Heartbeat, { to: 1, from: 2, term: 4, context: bytes() }),
  newMessage(MessageType.Snap, {
    to: 2,
    from: 1,
    term: 9,
    snapshot: {
      metadata: {
        index: 500,
        term: 8,
        confState: { voters: [1, 2, 3], learners: [4], votersOutgoing: [] },
      },
      data: bytes(),
    },
    snapshotChunk: { offset: 1024, total: 4096, done: true, data: new Uint8Array(3072).fill(7) },
  }),
  newMessage(MessageType.TimeoutNow, { to: 2, from: 1, term: 11 }),
];

describe("raft message codec", () => {
  it("round-trips every field of every message kind", () => {
    for (const m of samples) {
      const back = decodeMessage(encodeMessage(m));
      expect(back).toEqual(m);
    }
  });

  it("keeps a heartbeat small", () => {
    expect(encodeMessage(samples[0]!).length).toBeLessThanOrEqual(16);
  });

  it("rejects truncated input with a typed error at every cut point", () => {
    const full = encodeMessage(samples[1]!);
    for (let cut = 0; cut < full.length; cut += 7) {
      expect(() => decodeMessage(full.subarray(0, cut))).toThrow(RaftCodecError);
    }
  });

  it("rejects unknown versions, types, flags and trailing bytes", () => {
    const good = encodeMessage(samples[0]!);
    const mutate = (i: number, v: number) => {
      const b = Uint8Array.from(good);
      b[i] = v;
      return b;
    };
    const cases: [Uint8Array, string][] = [
      [mutate(0, 2), "version"],
      [mutate(1, 99), "type"],
      [mutate(2, 0x80), "flags"],
      [mutate(2, 32), "flags"],
      [Uint8Array.from([...good, 0]), "message"],
      [bytes(1, 3, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), "to"],
    ];
    for (const [b, field] of cases) {
      try {
        decodeMessage(b);
        expect.unreachable(`decoded ${field}`);
      } catch (e) {
        expect(e).toBeInstanceOf(RaftCodecError);
        expect((e as RaftCodecError).code).toBe("TESSERA_E_RAFT_CODEC");
        expect((e as RaftCodecError).field).toBe(field);
      }
    }
  });

  it("rejects a length that runs past the buffer without allocating it", () => {
    // App with one entry whose data length claims 2^40 bytes.
    const b = bytes(1, 3, 0, 2, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20);
    expect(() => decodeMessage(b)).toThrow(/exceeds/);
  });

  it("rejects a snapshot chunk that overruns its total", () => {
    const m = samples[6]!;
    const bad = { ...m, snapshotChunk: { ...m.snapshotChunk!, total: 10 } };
    expect(() => decodeMessage(encodeMessage(bad))).toThrow(RaftCodecError);
  });
});
