import { describe, expect, it } from "vitest";
import { InputTileCache } from "./input-cache.js";

const tile = (elems: number, v = 1) => new Float32Array(elems).fill(v);

describe("InputTileCache", () => {
  it("loads a tile once and serves repeats from memory", async () => {
    const cache = new InputTileCache(1024);
    let loads = 0;
    const load = async () => {
      loads++;
      return tile(16, 7);
    };
    const first = await cache.get("datasets/d/A/0-0.tile", load);
    const again = await cache.get("datasets/d/A/0-0.tile", load);
    expect(loads).toBe(1);
    expect(again).toBe(first);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, entries: 1, bytes: 64 });
  });

  it("shares one load between concurrent requests for the same tile", async () => {
    const cache = new InputTileCache(1024);
    let loads = 0;
    let release: (t: Float32Array) => void = () => undefined;
    const load = () => {
      loads++;
      return new Promise<Float32Array>((r) => {
        release = r;
      });
    };
    const a = cache.get("k", load);
    const b = cache.get("k", load);
    release(tile(4));
    expect(await a).toBe(await b);
    expect(loads).toBe(1);
  });

  it("evicts the least recently used tile to stay within its byte budget", async () => {
    const cache = new InputTileCache(2 * 64); // room for two 16-float tiles
    const loaded: string[] = [];
    const load = (key: string) => async () => {
      loaded.push(key);
      return tile(16);
    };
    await cache.get("a", load("a"));
    await cache.get("b", load("b"));
    await cache.get("a", load("a")); // a is now the most recent
    await cache.get("c", load("c")); // evicts b
    await cache.get("a", load("a"));
    await cache.get("b", load("b"));
    expect(loaded).toEqual(["a", "b", "c", "b"]);
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 128, evictions: 2 });
  });

  it("does not remember a failed load, and with capacity 0 keeps nothing", async () => {
    const cache = new InputTileCache(1024);
    await expect(
      cache.get("k", async () => {
        throw new Error("storage down");
      }),
    ).rejects.toThrow("storage down");
    expect(await cache.get("k", async () => tile(2, 3))).toEqual(tile(2, 3));

    const off = new InputTileCache(0);
    let loads = 0;
    const load = async () => {
      loads++;
      return tile(2);
    };
    await off.get("k", load);
    await off.get("k", load);
    expect(loads).toBe(2);
    expect(off.stats().entries).toBe(0);
  });

  it("refuses a negative or fractional budget", () => {
    expect(() => new InputTileCache(-1)).toThrow(RangeError);
    expect(() => new InputTileCache(1.5)).toThrow(RangeError);
  });
});
