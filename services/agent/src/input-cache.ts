// A bounded in-memory cache of decoded INPUT tiles (A and B), so the K map tasks that share a
// tile read and verify it once per agent instead of once per task.
//
// Only input tiles are cached, because only they are safe to serve from memory: an input key
// names a dataset by its spec (`datasets/<datasetId>/…`) and its content is a pure function of
// that key, so a copy that was verified (or generated) once stays correct forever. Partials and
// outputs are never cached: their consumers must read the stored bytes, so a corrupted stored
// copy is detected and recomputed rather than masked by a healthy copy in some agent's memory.
//
// A tile may be kept as float32 (as stored) or in the 8-bit form the integer map kernel takes
// (kernel/int8-operands.ts), converted once instead of at every map that uses it; each form has
// its own key, so a key always holds one element type.

/** What the cache holds: a decoded tile, or its 8-bit kernel operand form. */
export type CachedTile = Float32Array | Uint8Array | Int8Array;

export interface InputCacheStats {
  hits: number;
  misses: number;
  evictions: number;
  bytes: number;
  entries: number;
}

export class InputTileCache {
  /** Insertion order is recency order: a hit re-inserts, the first key is the eviction victim. */
  private readonly tiles = new Map<string, CachedTile>();
  /** Loads in flight, so concurrent slots asking for one tile share one read. */
  private readonly loading = new Map<string, Promise<CachedTile>>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  /** @param capacityBytes total payload bytes kept; 0 disables caching (every get loads). */
  constructor(private readonly capacityBytes: number) {
    if (!Number.isInteger(capacityBytes) || capacityBytes < 0) {
      throw new RangeError(`capacityBytes ${capacityBytes} must be an integer ≥ 0`);
    }
  }

  /**
   * The tile under `key`, from memory or from `load` (whose result is kept when it fits). A load
   * that fails is not remembered: the next get tries again. A key must always be loaded as the
   * same element type (the caller's key names the form).
   */
  async get<T extends CachedTile>(key: string, load: () => Promise<T>): Promise<T> {
    const cached = this.tiles.get(key);
    if (cached) {
      this.hits++;
      this.tiles.delete(key);
      this.tiles.set(key, cached);
      return cached as T;
    }
    const pending = this.loading.get(key);
    if (pending) {
      this.hits++;
      return pending as Promise<T>;
    }
    this.misses++;
    if (this.capacityBytes === 0) return load();
    const loaded = load().then(
      (tile) => {
        this.loading.delete(key);
        this.keep(key, tile);
        return tile;
      },
      (err: unknown) => {
        this.loading.delete(key);
        throw err;
      },
    );
    this.loading.set(key, loaded);
    return loaded;
  }

  stats(): InputCacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      bytes: this.bytes,
      entries: this.tiles.size,
    };
  }

  private keep(key: string, tile: CachedTile): void {
    if (tile.byteLength > this.capacityBytes) return;
    while (this.bytes + tile.byteLength > this.capacityBytes) {
      const oldest = this.tiles.keys().next();
      if (oldest.done) break;
      this.drop(oldest.value);
      this.evictions++;
    }
    this.tiles.set(key, tile);
    this.bytes += tile.byteLength;
  }

  private drop(key: string): void {
    const tile = this.tiles.get(key);
    if (!tile) return;
    this.tiles.delete(key);
    this.bytes -= tile.byteLength;
  }
}
