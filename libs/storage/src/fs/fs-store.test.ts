import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeConformance } from "../conformance.test-helpers.js";
import { FsObjectStore } from "./fs-store.js";

describeConformance("fs", async () => {
  const root = await mkdtemp(join(tmpdir(), "tessera-fs-store-"));
  const store = new FsObjectStore({ root });
  return {
    store,
    scheme: "file:",
    async corrupt(key) {
      // Flip one payload byte on disk: the trailer still claims the old checksum.
      const h = await open(join(root, key), "r+");
      try {
        const b = Buffer.alloc(1);
        await h.read(b, 0, 1, 1000);
        b[0] = (b[0] ?? 0) ^ 0x01;
        await h.write(b, 0, 1, 1000);
      } finally {
        await h.close();
      }
    },
    teardown: () => rm(root, { recursive: true, force: true }),
  };
});
