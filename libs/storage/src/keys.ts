import { InvalidKeyError } from "./errors.js";

/** Longest key accepted: S3 and GCS both cap object names at 1024 bytes. */
export const MAX_KEY_LENGTH = 1024;
/** Longest segment: a segment becomes a file or directory name on the fs backend (NAME_MAX). */
export const MAX_SEGMENT_LENGTH = 255;

const ALLOWED = /^[A-Za-z0-9._\-=+/]+$/;

/**
 * Returns why `key` is not a valid object key, or undefined when it is.
 * Keys are relative, `/`-separated paths of [A-Za-z0-9._-=+] segments. The rules are the
 * intersection of what every backend can store under the same name, so a key that works on fs
 * works on S3 and GCS too: no leading or trailing `/`, no empty segments, and no segment that
 * starts with `.` (which rules out `.`/`..` traversal and keeps the fs backend's hidden temp
 * files out of the key space).
 */
export function keyProblem(key: string): string | undefined {
  if (typeof key !== "string") return "must be a string";
  if (key.length === 0) return "must not be empty";
  if (key.length > MAX_KEY_LENGTH) return `must be at most ${MAX_KEY_LENGTH} characters`;
  if (!ALLOWED.test(key)) {
    const bad = [...key].find((c) => !ALLOWED.test(c)) ?? "";
    return `character ${JSON.stringify(bad)} is not allowed (use [A-Za-z0-9._-=+/])`;
  }
  if (key.startsWith("/")) return "must not start with '/' (keys are relative)";
  if (key.endsWith("/")) return "must not end with '/'";
  for (const segment of key.split("/")) {
    if (segment.length === 0) return "must not contain an empty segment ('//')";
    if (segment === "..") return "segment '..' is not allowed (no path traversal)";
    if (segment.startsWith("."))
      return `segment ${JSON.stringify(segment)} must not start with '.'`;
    if (segment.length > MAX_SEGMENT_LENGTH)
      return `segment must be at most ${MAX_SEGMENT_LENGTH} characters`;
  }
  return undefined;
}

/** Throws InvalidKeyError naming the key and the rule it breaks. */
export function assertValidKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== undefined) throw new InvalidKeyError(String(key), problem);
}

/**
 * A list prefix may end in `/` or be empty (list everything), but otherwise follows the key
 * rules, so `list("../")` is rejected instead of escaping the root.
 */
export function assertValidPrefix(prefix: string): void {
  if (typeof prefix !== "string") throw new InvalidKeyError(String(prefix), "must be a string");
  if (prefix === "") return;
  const trimmed = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  const problem = keyProblem(trimmed);
  if (problem !== undefined) throw new InvalidKeyError(prefix, `prefix ${problem}`);
}
