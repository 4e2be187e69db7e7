/** Error catalogue of @tessera/config. */

/** Where a configuration value came from. */
export type ConfigSource = "env" | "file" | "default" | "missing";

export interface ConfigIssue {
  /** The env var (e.g. `TESSERA_NATS_PORT`) or `file.json: /path`, as a user would look for it. */
  readonly field: string;
  readonly source: ConfigSource;
  readonly reason: string;
}

export class ConfigError extends Error {
  readonly code = "TESSERA_E_CONFIG_INVALID";
  constructor(readonly issues: readonly ConfigIssue[]) {
    const first = issues[0] ?? { field: "config", reason: "invalid" };
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
    super(`config: ${first.field}: ${first.reason}${more}`);
    this.name = "ConfigError";
  }
}
