/** Error catalogue of @tessera/harness. */

export type HarnessErrorCode =
  | "TESSERA_E_HARNESS_NO_BINARY"
  | "TESSERA_E_HARNESS_START"
  | "TESSERA_E_HARNESS_TIMEOUT"
  | "TESSERA_E_HARNESS_STATE"
  | "TESSERA_E_HARNESS_MODE";

export class HarnessError extends Error {
  constructor(
    readonly code: HarnessErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "HarnessError";
  }
}
