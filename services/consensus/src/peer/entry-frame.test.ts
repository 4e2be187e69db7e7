import { describe, expect, it } from "vitest";
import { BATCH_TAG, decodeEntry, encodeEntry, packRuns, STAMP_BYTES } from "./entry-frame.js";

const bytes = (s: string) => Buffer.from(s, "utf8");
const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");

describe("log entry framing", () => {
  it("keeps a lone command as stamp + the bytes proposed (the format entries had before batching)", () => {
    const entry = encodeEntry(1234.5, [bytes('{"a":1}')]);
    expect(entry.length).toBe(STAMP_BYTES + 7);
    expect(text(entry.subarray(STAMP_BYTES))).toBe('{"a":1}');
    const d = decodeEntry(entry);
    expect(d?.stampedAt).toBe(1234.5);
    expect(d?.batched).toBe(false);
    expect(d?.commands.map(text)).toEqual(['{"a":1}']);
  });

  it("round-trips several commands, empty ones included, in order", () => {
    const cmds = ['{"x":1}', "", '{"y":"two"}'].map(bytes);
    const d = decodeEntry(encodeEntry(7, cmds));
    expect(d).toMatchObject({ stampedAt: 7, batched: true });
    expect(d?.commands.map(text)).toEqual(['{"x":1}', "", '{"y":"two"}']);
  });

  it("frames a lone command that starts with the batch tag, so it cannot be misread", () => {
    const odd = Uint8Array.of(BATCH_TAG, 2, 3);
    const d = decodeEntry(encodeEntry(1, [odd]));
    expect(d?.batched).toBe(true);
    expect(d?.commands).toEqual([odd]);
  });

  it("refuses entries it did not write: no stamp, or a batch frame that does not add up", () => {
    expect(decodeEntry(new Uint8Array(5))).toBeUndefined();
    const good = encodeEntry(1, [bytes("ab"), bytes("cd")]);
    expect(decodeEntry(good.subarray(0, good.length - 1))).toBeUndefined();
    expect(decodeEntry(Uint8Array.of(...good, 0))).toBeUndefined();
    const zero = new Uint8Array(STAMP_BYTES + 5);
    zero[STAMP_BYTES] = BATCH_TAG;
    expect(decodeEntry(zero)).toBeUndefined();
    expect(() => encodeEntry(1, [])).toThrow(RangeError);
  });
});

describe("packRuns", () => {
  const item = (n: number) => ({ data: new Uint8Array(n) });
  const sizes = (runs: { data: Uint8Array }[][]) => runs.map((r) => r.map((i) => i.data.length));

  it("keeps order and cuts runs at the command count and at the byte budget", () => {
    expect(sizes(packRuns([1, 2, 3, 4, 5].map(item), 2, 100))).toEqual([[1, 2], [3, 4], [5]]);
    expect(sizes(packRuns([40, 40, 40, 10].map(item), 10, 100))).toEqual([
      [40, 40],
      [40, 10],
    ]);
  });

  it("sends a command larger than the budget alone, never an empty run", () => {
    expect(sizes(packRuns([10, 500, 10].map(item), 10, 100))).toEqual([[10], [500], [10]]);
    expect(packRuns([], 10, 100)).toEqual([]);
  });
});
