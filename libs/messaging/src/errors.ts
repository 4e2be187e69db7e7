/** Error catalogue of @tessera/messaging. */

export type MessagingErrorCode =
  | "TESSERA_E_MESSAGING_CONNECT"
  | "TESSERA_E_MESSAGING_AUTH"
  | "TESSERA_E_MESSAGING_SECURITY_CONFIG"
  | "TESSERA_E_MESSAGING_PROVISION"
  | "TESSERA_E_MESSAGING_PUBLISH"
  | "TESSERA_E_MESSAGING_CONSUMER"
  | "TESSERA_E_MESSAGING_PULL_STALLED"
  | "TESSERA_E_MESSAGING_ARGUMENT"
  | "TESSERA_E_MESSAGING_REQUEST";

export class MessagingError extends Error {
  constructor(
    readonly code: MessagingErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "MessagingError";
  }
}
