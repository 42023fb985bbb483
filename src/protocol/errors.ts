import { ReasonCode } from "./constants.js";

/**
 * Bad bytes on the wire (or a packet we cannot encode). `reason` is what the connection should
 * answer with: a DISCONNECT reason, or a SENDACK reason code for per-message failures.
 */
export class ProtocolError extends Error {
  readonly reason: ReasonCode;
  constructor(reason: ReasonCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
    this.reason = reason;
  }
}

/** Framing problems: header, length, packet type, version. */
export function headerError(message: string): ProtocolError {
  return new ProtocolError(ReasonCode.NotSupportHeader, message);
}

/** A body that does not parse (truncated field, bad string, bad payload). */
export function bodyError(message: string): ProtocolError {
  return new ProtocolError(ReasonCode.PayloadDecodeError, message);
}

/** A packet we refuse to encode: a bug on our side, never a client's fault. */
export function encodeError(message: string): ProtocolError {
  return new ProtocolError(ReasonCode.SystemError, message);
}
