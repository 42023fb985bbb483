/** The SDK's errors: one class per condition, each with its own `name` (and a reason code where the server gave one). */

/** The server refused a SEND (SENDACK with a reason code other than Success). */
export class SendError extends Error {
  constructor(
    readonly reasonCode: number,
    message: string,
  ) {
    super(message);
    this.name = "SendError";
  }
}

/**
 * The server refused the connection (a failed CONNACK) or ended it for good (DISCONNECT with a
 * kick or ban): reconnecting would not help, so the client closes.
 */
export class ConnectionRefusedError extends Error {
  constructor(
    readonly reasonCode: number,
    message: string,
  ) {
    super(message);
    this.name = "ConnectionRefusedError";
  }
}

/** The client was closed (by close() or by a refusal) before the operation could finish. */
export class ClientClosedError extends Error {
  constructor(message = "client is closed", options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ClientClosedError";
  }
}

/** A ClientOptions value that cannot work; thrown by the constructor. */
export class InvalidOptionError extends Error {
  constructor(option: string, problem: string) {
    super(`options.${option} ${problem}`);
    this.name = "InvalidOptionError";
  }
}
