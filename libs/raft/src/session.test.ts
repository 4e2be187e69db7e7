/** Client sessions for exactly-once commands (dissertation §6.3). */
import { describe, expect, it } from "vitest";
import { RaftArgumentError, RaftDecodeError } from "./errors.js";
import { ClientSessionTable } from "./session.js";
import { dec, enc, TestNetwork } from "./test-network.test-helpers.js";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("§6.3 client sessions", () => {
  it("§6.3 a retried command is applied once and the retry gets the cached response", () => {
    const t = new ClientSessionTable({ maxSessions: 10 });
    t.register("c1", 0);
    let counter = 0;
    const incr = () => bytes(String(++counter));
    expect(t.apply("c1", 1, 1, incr)).toEqual({ status: "applied", response: bytes("1") });
    expect(t.apply("c1", 1, 2, incr)).toEqual({ status: "duplicate", response: bytes("1") });
    expect(t.apply("c1", 2, 3, incr)).toEqual({ status: "applied", response: bytes("2") });
    expect(counter).toBe(2);
  });

  it("§6.3 several in-flight commands keep their responses until the client acknowledges them", () => {
    const t = new ClientSessionTable<string>({
      maxSessions: 10,
      codec: { encode: bytes, decode: (b) => new TextDecoder().decode(b) },
    });
    t.register("c", 0);
    t.apply("c", 1, 0, () => "r1");
    t.apply("c", 2, 0, () => "r2");
    expect(t.apply("c", 1, 0, () => "again")).toEqual({ status: "duplicate", response: "r1" });
    // The client says it has every response up to seq 1: that response may be dropped.
    t.apply("c", 3, 0, () => "r3", 1);
    expect(t.apply("c", 1, 0, () => "again")).toEqual({ status: "stale" });
    expect(t.apply("c", 2, 0, () => "again")).toEqual({ status: "duplicate", response: "r2" });
  });

  it("§6.3 sessions expire deterministically by log time, and an expired session is refused, not re-applied", () => {
    const t = new ClientSessionTable({ maxSessions: 10, ttl: 100 });
    t.register("old", 0);
    t.register("busy", 0);
    t.apply("old", 1, 10, () => bytes("x"));
    t.apply("busy", 1, 90, () => bytes("y"));
    t.expire(150); // old: idle 140 > 100; busy: idle 60
    expect(t.has("old")).toBe(false);
    expect(t.has("busy")).toBe(true);
    let ran = false;
    expect(
      t.apply("old", 1, 150, () => {
        ran = true;
        return bytes("x");
      }),
    ).toEqual({ status: "session-expired" });
    expect(ran).toBe(false);
  });

  it("§6.3 the least recently used session is evicted beyond maxSessions", () => {
    const t = new ClientSessionTable({ maxSessions: 2 });
    t.register("a", 0);
    t.register("b", 0);
    t.apply("a", 1, 1, () => bytes("")); // a is now more recent than b
    t.register("c", 2);
    expect([t.has("a"), t.has("b"), t.has("c")]).toEqual([true, false, true]);
  });

  it("§6.3 the table survives serialize/restore (state machine snapshot) with identical behaviour", () => {
    const t = new ClientSessionTable({ maxSessions: 5, ttl: 1000 });
    t.register("c", 0);
    t.apply("c", 1, 5, () => bytes("resp"));
    const image = t.serialize();
    const u = new ClientSessionTable({ maxSessions: 5, ttl: 1000 });
    u.restore(image);
    expect(u.apply("c", 1, 6, () => bytes("NO"))).toEqual({
      status: "duplicate",
      response: bytes("resp"),
    });
    expect(u.serialize()).toEqual(
      (() => {
        t.apply("c", 1, 6, () => bytes("NO"));
        return t.serialize();
      })(),
    );
    expect(() => u.restore(bytes("{"))).toThrow(RaftDecodeError);
    expect(() => u.restore(bytes('{"v":2}'))).toThrow(RaftDecodeError);
  });

  it("§6.3 bad arguments are typed errors", () => {
    expect(() => new ClientSessionTable({ maxSessions: 0 })).toThrow(RaftArgumentError);
    const t = new ClientSessionTable({ maxSessions: 1 });
    expect(() => t.register("", 0)).toThrow(RaftArgumentError);
    t.register("c", 0);
    expect(() => t.apply("c", 0, 0, () => bytes(""))).toThrow(RaftArgumentError);
    expect(() => t.apply("c", 1.5, 0, () => bytes(""))).toThrow(RaftArgumentError);
  });

  it("§6.3 duplicate client proposals through Raft are applied once on every replica", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    // The same command is proposed twice (a client retry after a lost reply), plus a register.
    const cmd = (clientId: string, seq: number, op: string) =>
      enc(JSON.stringify({ clientId, seq, op }));
    net.raw(1).propose(enc(JSON.stringify({ register: "c" })));
    net.raw(1).propose(cmd("c", 1, "add"));
    net.raw(1).propose(cmd("c", 1, "add"));
    net.raw(1).propose(cmd("c", 2, "add"));
    net.settle();
    for (const id of [1, 2, 3]) {
      const t = new ClientSessionTable({ maxSessions: 10 });
      let total = 0;
      for (const e of net.node(id).applied) {
        const c = JSON.parse(dec(e.data)) as { register?: string; clientId: string; seq: number };
        if (c.register) t.register(c.register, e.index);
        else t.apply(c.clientId, c.seq, e.index, () => bytes(String(++total)));
      }
      expect(total).toBe(2);
    }
  });
});
