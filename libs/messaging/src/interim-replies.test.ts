import { type NatsServer, startNatsServer } from "@tessera/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "./connection.js";
import { InterimReplies } from "./interim-replies.js";

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: false, mode: "process" });
  nc = await connect({ servers: server.url, name: "interim-replies-test" });
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

describe("InterimReplies", () => {
  it("follows each request's interim replies to its own final one, requests interleaved", async () => {
    // Answers "<body>:interim" twice, then "<body>:final", the two requests' replies interleaved.
    const held: { body: string; respond: (s: string) => void }[] = [];
    const responder = nc.subscribe("svc.multi", {
      callback: (_err, msg) => {
        held.push({ body: text(msg.data), respond: (s) => msg.respond(bytes(s)) });
        if (held.length < 2) return;
        for (const step of ["interim", "interim", "final"]) {
          for (const h of held) h.respond(`${h.body}:${step}`);
        }
      },
    });
    const replies = new InterimReplies(nc);
    try {
      const seen: Record<string, string[]> = { a: [], b: [] };
      const ask = (body: "a" | "b") =>
        replies.request("svc.multi", bytes(body), {
          timeoutMs: 5_000,
          classify: (m) => {
            seen[body]?.push(text(m.data));
            return text(m.data).endsWith(":final") ? "final" : "interim";
          },
        });
      const [a, b] = await Promise.all([ask("a"), ask("b")]);
      expect(a.kind === "final" && text(a.msg.data)).toBe("a:final");
      expect(b.kind === "final" && text(b.msg.data)).toBe("b:final");
      expect(seen).toEqual({
        a: ["a:interim", "a:interim", "a:final"],
        b: ["b:interim", "b:interim", "b:final"],
      });
    } finally {
      responder.unsubscribe();
      replies.close();
    }
  });

  it("ends with no-responders when nobody listens, and with a timeout when no final reply comes", async () => {
    const replies = new InterimReplies(nc);
    const responder = nc.subscribe("svc.interim-only", {
      callback: (_err, msg) => {
        msg.respond(bytes("interim"));
      },
    });
    try {
      const classify = (m: { data: Uint8Array }) =>
        text(m.data) === "interim" ? ("interim" as const) : ("final" as const);
      await expect(
        replies.request("svc.nobody", bytes("x"), { timeoutMs: 5_000, classify }),
      ).resolves.toEqual({ kind: "no-responders" });
      await expect(
        replies.request("svc.interim-only", bytes("x"), { timeoutMs: 300, classify }),
      ).resolves.toEqual({ kind: "timeout" });
      // A classifier that throws (an unreadable reply) fails that request, not the others.
      await expect(
        replies.request("svc.interim-only", bytes("x"), {
          timeoutMs: 5_000,
          classify: () => {
            throw new Error("unreadable reply");
          },
        }),
      ).rejects.toThrow("unreadable reply");
    } finally {
      responder.unsubscribe();
      replies.close();
    }
    await expect(
      replies.request("svc.nobody", bytes("x"), { timeoutMs: 100, classify: () => "final" }),
    ).rejects.toMatchObject({ code: "TESSERA_E_MESSAGING_REQUEST" });
  });
});
