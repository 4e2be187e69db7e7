// Reads and writes tiles through object storage. The agent depends only on this narrow slice
// of @tessera/storage's ObjectStore (structurally), so any backend fits and tests can count calls.
import {
  decodeTile,
  encodeTile,
  generateTile,
  type InputMatrix,
  inputKey,
  type MatmulJobSpec,
} from "@tessera/matrix";

export interface StoredObject {
  readonly key: string;
  readonly uri: string;
  readonly checksum: string;
  readonly bytes: number;
}

/** The part of @tessera/storage's ObjectStore the agent uses. */
export interface TileStore {
  /** Whole object, verified against its recorded CRC32C before it is returned. */
  get(key: string): Promise<Uint8Array>;
  /** Idempotent put: same key + same bytes succeeds without rewriting. */
  put(key: string, data: Uint8Array): Promise<StoredObject>;
}

/** Storage's "no such key" code; any other failure of a read is passed on untouched. */
const NOT_FOUND = "TESSERA_E_STORAGE_NOT_FOUND";

function isNotFound(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === NOT_FOUND;
}

/** Reads and decodes a [tile, tile] tile, checking its shape against the job. */
export async function readTile(store: TileStore, key: string, tile: number): Promise<Float32Array> {
  const bytes = await store.get(key);
  // decodeTile checks the tile's own header and payload CRCs too: a second line of defence
  // behind the store's object checksum, and the shape check guards against a misfiled key.
  return decodeTile(bytes, { rows: tile, cols: tile }).data;
}

export interface InputRead {
  data: Float32Array;
  /** True when the tile was absent and this agent generated and stored it. */
  generated: boolean;
}

/**
 * Reads input tile (row, col) of A or B. An absent tile is generated deterministically and
 * stored: its content is a pure function of its key, so racing agents write identical bytes and
 * the idempotent put lets every one of them succeed. A present tile is verified on read (a
 * corrupt one fails here; it is never regenerated over, because its bytes may be evidence).
 */
export async function readOrGenerateInput(
  store: TileStore,
  spec: MatmulJobSpec,
  matrix: InputMatrix,
  row: number,
  col: number,
): Promise<InputRead> {
  const key = inputKey(spec, matrix, row, col);
  try {
    return { data: await readTile(store, key, spec.tile), generated: false };
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const data = generateTile(spec, matrix, row, col);
  await store.put(key, encodeTile(data, { rows: spec.tile, cols: spec.tile, mode: spec.mode }));
  return { data, generated: true };
}

/** Encodes and stores a result tile under its deterministic key (idempotent put). */
export function writeTile(
  store: TileStore,
  key: string,
  data: Float32Array,
  spec: MatmulJobSpec,
): Promise<StoredObject> {
  return store.put(key, encodeTile(data, { rows: spec.tile, cols: spec.tile, mode: spec.mode }));
}
