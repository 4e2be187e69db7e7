/** Why a cluster scenario could not proceed (setup, a hung election, a broken invariant). */
export type ClusterErrorCode =
  | "not-built"
  | "state"
  | "start"
  | "timeout"
  | "http"
  | "invariant"
  | "protocol";

export class ClusterError extends Error {
  readonly code: string;
  constructor(
    readonly kind: ClusterErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ClusterError";
    this.code = `TESSERA_E_TEST_CLUSTER_${kind.toUpperCase().replace(/-/g, "_")}`;
  }
}
