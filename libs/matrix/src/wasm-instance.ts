// Synchronous instantiation of this package's small embedded WebAssembly modules (*-simd.wat).

/** The part of the WebAssembly JS API used here (this project's TypeScript libs do not declare it). */
interface WebAssemblyApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object) => { readonly exports: unknown };
}

/** Growable linear memory, as a module exports it. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/**
 * The exports of the module whose bytes are `base64`, or null where this runtime has no
 * WebAssembly or cannot compile it (no SIMD): callers then run their JavaScript loops.
 */
export function instantiateWasm<T>(base64: string): T | null {
  const wasm = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  if (!wasm) return null;
  try {
    return new wasm.Instance(new wasm.Module(Buffer.from(base64, "base64"))).exports as T;
  } catch {
    return null;
  }
}
