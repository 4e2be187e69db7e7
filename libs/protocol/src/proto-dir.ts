import { fileURLToPath } from "node:url";

/**
 * Absolute path of this package's `proto/` directory (raft.proto, manifest.proto). Resolved
 * from the module's own location: src/ and dist/ both sit one level below the package root, so
 * the same path works when running from source (tests) and from the build.
 */
export const PROTO_DIR: string = fileURLToPath(new URL("../proto/", import.meta.url));
