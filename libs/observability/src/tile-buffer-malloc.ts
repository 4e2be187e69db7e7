/**
 * The start-up note of a process that moves tile-sized buffers (agent, storage-manager) started
 * without the glibc malloc settings `tessera dev up` and the image give it
 * (@tessera/config tile-buffer-malloc): not a failure, the process works, its tiles just cost
 * more page faults (services/agent/README.md, "Memory").
 */
import type { Logger } from "./logger.js";

export function reportTileBufferMalloc(log: Logger, missing: readonly string[]): void {
  if (missing.length === 0) return;
  log.info(
    { missing },
    "started without the tile-buffer malloc settings (`tessera dev up` and the image set them): more page faults per tile, see services/agent/README.md Memory",
  );
}
