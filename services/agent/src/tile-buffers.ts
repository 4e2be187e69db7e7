// Reusable buffers for the tiles a task reads and writes only for its own duration: partials a
// reduce reads, and the output tile a kernel writes into before it is stored.
//
// Why: a 2048² tile is 16 MiB, and every fresh ArrayBuffer of that size is external memory to
// V8 (each ~64 MiB of it starts a full mark-compact, i.e. about one per task at tile 2048) and
// fresh pages the kernel must fault in. Reusing them makes a warm agent allocate nothing per
// task. Input tiles are not pooled: the input cache keeps them across tasks.
//
// Ownership is by lease: a lease hands out buffers and takes them all back at once when what it
// covers is over — a task's output once durably stored (or the task failed), a reduce chunk's
// partials once summed — so no buffer is reused while anything may still read it. Nothing handed out is zeroed: callers overwrite every byte
// (a read fills the object's bytes, a kernel writes every output element).

export interface TileBufferStats {
  /** Buffers handed out that came from the free lists. */
  reused: number;
  /** Buffers handed out that had to be allocated. */
  allocated: number;
  /** Bytes waiting in the free lists. */
  freeBytes: number;
}

export class TileBufferPool {
  /** Free buffers by exact byte length (tiles of one job share one length). */
  private readonly free = new Map<number, Uint8Array[]>();
  private readonly stats: TileBufferStats = { reused: 0, allocated: 0, freeBytes: 0 };

  /** @param maxFreeBytes most bytes kept for reuse; buffers returned beyond it are dropped. */
  constructor(private readonly maxFreeBytes: number) {
    if (!Number.isInteger(maxFreeBytes) || maxFreeBytes < 0) {
      throw new RangeError(`maxFreeBytes ${maxFreeBytes} must be an integer ≥ 0`);
    }
  }

  /** A lease for one task; call release() once nothing of the task reads its buffers any more. */
  lease(): TileBufferLease {
    return new TileBufferLease(this);
  }

  snapshot(): TileBufferStats {
    return { ...this.stats };
  }

  /** @internal used by TileBufferLease */
  take(bytes: number): Uint8Array {
    const list = this.free.get(bytes);
    const reused = list?.pop();
    if (reused) {
      this.stats.reused++;
      this.stats.freeBytes -= bytes;
      return reused;
    }
    this.stats.allocated++;
    // Unzeroed: callers overwrite every byte (see the header). allocUnsafeSlow, not allocUnsafe:
    // the buffer must own its whole ArrayBuffer to be poolable (give), and allocUnsafe carves
    // sizes below Buffer.poolSize / 2 out of a shared slab (8 KiB before Node 24, 64 KiB since).
    return Buffer.allocUnsafeSlow(bytes);
  }

  /** @internal used by TileBufferLease */
  give(buffer: Uint8Array): void {
    const bytes = buffer.byteLength;
    // A buffer sharing its ArrayBuffer (a slab of Buffer.allocUnsafe) is never pooled.
    if (bytes === 0 || buffer.byteOffset !== 0 || buffer.buffer.byteLength !== bytes) return;
    let list = this.free.get(bytes);
    if (!list) {
      // Another tile size (a job of another shape): drop the old sizes rather than keep both.
      this.free.clear();
      this.stats.freeBytes = 0;
      list = [];
      this.free.set(bytes, list);
    }
    if (this.stats.freeBytes + bytes > this.maxFreeBytes) return;
    list.push(buffer);
    this.stats.freeBytes += bytes;
  }
}

export class TileBufferLease {
  private readonly held: Uint8Array[] = [];
  private released = false;

  constructor(private readonly pool: TileBufferPool) {}

  /** A buffer of exactly `bytes` bytes, owned by this lease until release(). */
  readonly alloc = (bytes: number): Uint8Array => {
    if (this.released) throw new Error("tile buffer lease used after release");
    const buffer = this.pool.take(bytes);
    this.held.push(buffer);
    return buffer;
  };

  /** Returns every buffer of this lease to the pool (idempotent). */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const b of this.held.splice(0)) this.pool.give(b);
  }
}
