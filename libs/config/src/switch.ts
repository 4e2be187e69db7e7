/** On/off settings: a boolean flag (`--ship-logs`), else its environment variable. Pure. */

const ON = new Set(["1", "true"]);
const OFF = new Set(["0", "false", ""]);

/**
 * `flag` is what the argument parser found (true when given); otherwise `env[envName]`:
 * unset, "", "0" or "false" → off; "1" or "true" → on; anything else → `fail` is called with a
 * reason naming the variable (each service throws its own error type).
 */
export function switchSetting(
  flag: unknown,
  envName: string,
  env: Readonly<Record<string, string | undefined>>,
  fail: (reason: string) => Error,
): boolean {
  if (flag === true) return true;
  const v = env[envName];
  if (v === undefined || OFF.has(v)) return false;
  if (ON.has(v)) return true;
  throw fail(`${envName}: ${JSON.stringify(v)} must be 0, 1, true or false`);
}
