import { describe, expect, it } from "vitest";
import { EventRing, eventBatchRecord } from "./event-ring.js";

const ev = (jobId: string) => [{ category: "job", body: { type: "started", jobId } }];

describe("EventRing", () => {
  it("encodes a ManifestEventBatchV1 on the first event's category subject", () => {
    const r = eventBatchRecord(7, 2, 1234, ev("j1"));
    expect(r.subject).toBe("tessera.evt.job");
    expect(JSON.parse(new TextDecoder().decode(r.body))).toEqual({
      v: 1,
      index: 7,
      term: 2,
      at: 1234,
      events: [{ category: "job", type: "started", jobId: "j1" }],
    });
  });

  it("keeps the newest `capacity` batches and tracks the index it covers from", () => {
    const ring = new EventRing(3);
    const seen: number[] = [];
    ring.subscribe((r) => seen.push(r.index));
    for (const i of [2, 4, 5, 7]) ring.push(eventBatchRecord(i, 1, 0, ev(`j${i}`)));
    ring.push(eventBatchRecord(5, 1, 0, ev("dup"))); // older/repeated: ignored
    expect(seen).toEqual([2, 4, 5, 7]);
    expect(ring.since(0).map((r) => r.index)).toEqual([4, 5, 7]);
    expect(ring.since(5).map((r) => r.index)).toEqual([5, 7]);
    // index 2 was evicted: everything from 3 on is still complete
    expect(ring.coveredFrom).toBe(3);
    ring.reset(10);
    expect(ring.length).toBe(0);
    expect(ring.coveredFrom).toBe(11);
  });
});
