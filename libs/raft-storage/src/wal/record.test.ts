import { describe, expect, it } from "vitest";
import { decodeRecord, encodeRecord, RECORD_HEADER_BYTES, RecordType } from "./record.js";

describe("WAL record framing", () => {
  it("round-trips a payload and reports where the next record starts", () => {
    const payload = Buffer.from("hello raft");
    const buf = Buffer.concat([
      encodeRecord(RecordType.Entry, payload),
      encodeRecord(RecordType.HardState, Buffer.alloc(3, 7)),
    ]);
    const a = decodeRecord(buf, 0);
    expect(a.ok).toBe(true);
    if (!a.ok) return;
    expect(a.type).toBe(RecordType.Entry);
    expect(Buffer.from(a.payload).toString()).toBe("hello raft");
    expect(a.end).toBe(RECORD_HEADER_BYTES + payload.length);
    const b = decodeRecord(buf, a.end);
    expect(b.ok && b.type === RecordType.HardState && b.end === buf.length).toBe(true);
  });

  it("detects a flipped bit anywhere in the record: payload, length, type, checksum", () => {
    const rec = encodeRecord(RecordType.Entry, Buffer.from("0123456789abcdef"));
    for (let byte = 0; byte < rec.length; byte++) {
      const bad = Buffer.from(rec);
      bad[byte]! ^= 0x10;
      expect(decodeRecord(bad, 0).ok, `flip in byte ${byte}`).toBe(false);
    }
  });

  it("rejects a zero-filled header and a record cut short", () => {
    expect(decodeRecord(Buffer.alloc(64), 0)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/type 0/),
    });
    const rec = encodeRecord(RecordType.Entry, Buffer.alloc(100, 1));
    expect(decodeRecord(rec.subarray(0, 50), 0)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/past end/),
    });
    expect(decodeRecord(rec.subarray(0, 5), 0)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/incomplete/),
    });
  });
});
