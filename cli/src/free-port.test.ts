import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { freePort } from "./dev-cluster.js";

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
});
