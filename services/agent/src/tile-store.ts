// Reads and writes tiles through object storage. The agent depends only on this narrow slice
// of @tessera/storage's ObjectStore (structurally), so any backend fits and tests can count calls.
import {
  allocateTile,
  decodeTile,
  generateTile,
  type InputMatrix,
  inputKey,
  type MatmulJobSpec,
  sealTile,
  tileModeOf,
} from "@tessera/matrix";

export interface StoredObject {
  readonly key: string;
  readonly uri: string;
  readonly checksum: string;
  readonly bytes: number;
  /** False when the key already held an object with this checksum and nothing was written. */
  readonly created?: boolean;
}

/** The part of @tessera/storage's ObjectStore the agent uses. */
export interface TileStore {
  /**
   * Whole object, verified against its recorded CRC32C before it is returned. `into` may supply
   * the buffer (a backend may ignore it and return its own).
   */
  get(key: string, options?: { into?: (bytes: number) => Uint8Array }): Promise<Uint8Array>;
  /** Idempotent put: same key + same bytes succeeds without rewriting. */
  put(key: string, data: Uint8Array): Promise<StoredObject>;
  /**
   * The object at `fromKey` stored under `toKey` without moving its bytes through the agent
   * where the backend can; idempotent like put. `expectedChecksum`: what the caller verified.
   */
  copy(
    fromKey: string,
    toKey: string,
    options?: { expectedChecksum?: string },
  ): Promise<StoredObject>;
  delete(key: string): Promise<void>;
}

/** Storage's "no such key" code; any other failure of a read is passed on untouched. */
const NOT_FOUND = "TESSERA_E_STORAGE_NOT_FOUND";

/** Storage's "the stored bytes are not what was recorded" codes. */
const CORRUPT = new Set(["TESSERA_E_STORAGE_CHECKSUM", "TESSERA_E_STORAGE_UNVERIFIABLE"]);

function codeOf(err: unknown): unknown {
  return typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** Did this storage error find bytes that are not what was recorded? */
export function isCorrupt(err: unknown): boolean {
  return CORRUPT.has(codeOf(err) as string);
}

function isNotFound(err: unknown): boolean {
  return codeOf(err) === NOT_FOUND;
}

/**
 * Reads and decodes a [tile, tile] tile, checking its shape against the job. With `into`, the
 * returned values may live in a buffer it supplied (see TileBufferLease).
 */
export async function readTile(
  store: TileStore,
  key: string,
  tile: number,
  into?: (bytes: number) => Uint8Array,
): Promise<Float32Array> {
  const bytes = await store.get(key, { into });
  // get checked every byte against the object's recorded CRC32C; decodeTile checks the tile's
  // header (its own CRC) and shape, which guards against a misfiled key. Its payload CRC would
  // cover the same bytes a second time: 0.85 ms per 4 MiB tile, ~0.6 s of an agent's JS thread
  // in a CPU profile of `e2e-matmul --n 8192 --tile 1024`.
  return decodeTile(bytes, { rows: tile, cols: tile, bytesVerified: true }).data;
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
  // Generated straight into the file's payload: no second 4 MiB buffer to fault in and copy.
  const tile = allocateTile(spec.tile, spec.tile);
  generateTile(spec, matrix, row, col, tile.data);
  await store.put(
    key,
    sealTile(tile, { rows: spec.tile, cols: spec.tile, mode: tileModeOf(spec.mode) }),
  );
  return { data: tile.data, generated: true };
}

/**
 * Stores an encoded result tile under its deterministic key (idempotent put).
 *
 * A put that finds the key already holding an object with the same recorded checksum writes
 * nothing. That object may be a corrupt earlier copy whose metadata is intact (this is exactly the
 * case when a task is recomputed because its output failed a read), so the existing bytes are
 * read back with verification, and a copy that fails is deleted and written again.
 */
export function writeTile(store: TileStore, key: string, bytes: Uint8Array): Promise<StoredObject> {
  return storeChecked(store, key, () => store.put(key, bytes));
}

/**
 * Stores the object at `fromKey` (whose bytes the caller read and verified: `checksum`) under
 * `toKey` too, through the backend's copy; an existing copy is checked like writeTile's.
 */
export function copyTile(
  store: TileStore,
  fromKey: string,
  toKey: string,
  checksum: string,
): Promise<StoredObject> {
  return storeChecked(store, toKey, () =>
    store.copy(fromKey, toKey, { expectedChecksum: checksum }),
  );
}

async function storeChecked(
  store: TileStore,
  key: string,
  write: () => Promise<StoredObject>,
): Promise<StoredObject> {
  const stored = await write();
  if (stored.created !== false) return stored;
  try {
    await store.get(key);
    return stored;
  } catch (err) {
    if (isNotFound(err)) return write();
    if (!isCorrupt(err)) throw err;
    await store.delete(key);
    return write();
  }
}
