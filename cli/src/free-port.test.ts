import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { FETCH_BLOCKED_PORTS, freePort } from "./dev-cluster.js";

const listen = (port: number) =>
  new Promise<void>((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve()));
  });

describe("freePort (dev cluster listening ports)", () => {
  it("hands out distinct, bindable ports outside the kernel's ephemeral range", async () => {
    const ports: number[] = [];
    for (let i = 0; i < 40; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const p of ports) await listen(p);
    // Outgoing connections take their source port from this range; a port reserved for a peer
    // that has not bound yet must not be in it.
    const range = "/proc/sys/net/ipv4/ip_local_port_range";
    const low = Number(readFileSync(range, "utf8").trim().split(/\s+/)[0]);
    for (const p of ports) expect(p).toBeLessThan(low);
  });

  it("never hands out a port fetch refuses (10080 lies in its range)", async () => {
    // fetch refuses it before connecting: a peer there is unreachable for the CLI.
    const refused = await fetch("http://127.0.0.1:10080/readyz").then(
      () => undefined,
      (err: Error) => err,
    );
    expect((refused?.cause as Error | undefined)?.message).toBe("bad port");
    const low = Number(
      readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0],
    );
    const at = (port: number) => (port - 10_000 + 0.5) / (low - 10_000);
    // The first candidate drawn is 10080; whatever comes next must not be refused.
    const draws = [at(10_080)];
    const port = await freePort(() => draws.shift() ?? Math.random());
    expect(port).not.toBe(10_080);
    expect(FETCH_BLOCKED_PORTS.has(port)).toBe(false);
  });
});
