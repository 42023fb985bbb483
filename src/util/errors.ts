/**
 * One error model. Library code throws these classes; each carries a stable code and nothing
 * about where it will be answered. ERROR_TABLE is the one place a code becomes an HTTP status, a
 * WuKongIM reason code (SENDACK/CONNACK) and a CIM code; each API surface renders its own answer
 * from it (router/http-errors.ts, router/cim.ts, gateway/session.ts).
 */
import { ReasonCode } from "../protocol/constants.js";

/** CIM's result codes (its envelope's `code`). */
export const CimCode = {
  Success: "9000",
  /** Bad input: HTTP 400 / 413. */
  ValidationFail: "3000",
  /** Anything else that failed: unauthorized, not a group member, no such group, internal. */
  Fail: "4000",
  /** HTTP 429. */
  RequestLimit: "6000",
  /** The service cannot serve now: no gateway node is up, the store is unreachable (HTTP 503). */
  ServerNotAvailable: "7100",
  /** No such account, or userId and userName do not belong together (HTTP 404 / 403). */
  AccountNotMatch: "9100",
} as const;

interface ErrorMapping {
  http: number;
  reason: ReasonCode;
  cim: string;
}

export const ERROR_TABLE = {
  bad_request: { http: 400, reason: ReasonCode.PayloadDecodeError, cim: CimCode.ValidationFail },
  unauthorized: { http: 401, reason: ReasonCode.AuthFail, cim: CimCode.Fail },
  forbidden: { http: 403, reason: ReasonCode.NotAllowSend, cim: CimCode.Fail },
  not_found: { http: 404, reason: ReasonCode.SystemError, cim: CimCode.Fail },
  method_not_allowed: { http: 405, reason: ReasonCode.SystemError, cim: CimCode.Fail },
  payload_too_large: { http: 413, reason: ReasonCode.PayloadDecodeError, cim: CimCode.ValidationFail },
  unavailable: { http: 503, reason: ReasonCode.SystemError, cim: CimCode.ServerNotAvailable },
  store_unavailable: { http: 503, reason: ReasonCode.SystemError, cim: CimCode.ServerNotAvailable },
  /** A send refused before storing: the status follows its reason (REJECTED_SEND_STATUS). */
  send_rejected: { http: 403, reason: ReasonCode.NotAllowSend, cim: CimCode.Fail },
  account_not_found: { http: 404, reason: ReasonCode.SystemError, cim: CimCode.AccountNotMatch },
  account_mismatch: { http: 403, reason: ReasonCode.SystemError, cim: CimCode.AccountNotMatch },
  bad_cluster_frame: { http: 400, reason: ReasonCode.SystemError, cim: CimCode.Fail },
  bad_bus_message: { http: 400, reason: ReasonCode.SystemError, cim: CimCode.Fail },
  /** Start failures: the CLI prints the sentence and exits 2. */
  config_error: { http: 500, reason: ReasonCode.SystemError, cim: CimCode.Fail },
  address_in_use: { http: 500, reason: ReasonCode.SystemError, cim: CimCode.Fail },
  listen_failed: { http: 500, reason: ReasonCode.SystemError, cim: CimCode.Fail },
} as const satisfies Record<string, ErrorMapping>;

export type ErrorCode = keyof typeof ERROR_TABLE;

/** HTTP status of a refused send, by its reason: bad address 400, no such group 404, else 403. */
const REJECTED_SEND_STATUS: Partial<Record<ReasonCode, number>> = {
  [ReasonCode.ChannelIDError]: 400,
  [ReasonCode.NotSupportChannelType]: 400,
  [ReasonCode.ChannelNotExist]: 404,
};

export class SwitchboardError extends Error {
  /** Stable machine-readable code, e.g. "bad_request". */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export class InvalidArgumentError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("bad_request", message, options);
  }
}
export class UnauthorizedError extends SwitchboardError {
  constructor(message = "missing or wrong API key", options?: ErrorOptions) {
    super("unauthorized", message, options);
  }
}
export class ForbiddenError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("forbidden", message, options);
  }
}
export class NotFoundError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("not_found", message, options);
  }
}
export class MethodNotAllowedError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("method_not_allowed", message, options);
  }
}
export class PayloadTooLargeError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("payload_too_large", message, options);
  }
}
export class UnavailableError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("unavailable", message, options);
  }
}
/**
 * The message store cannot serve right now (unreachable, timed out, disk full, read-only, locked).
 * Nothing was stored by the failing call, or the caller cannot know: a send is never acknowledged
 * on it, and a retry with the same client_msg_no is safe.
 */
export class StoreUnavailableError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("store_unavailable", message, options);
  }
}
/** A send refused before storing, with the WuKongIM reason a SENDACK carries. */
export class SendRejectedError extends SwitchboardError {
  constructor(
    readonly reasonCode: ReasonCode,
    message: string,
  ) {
    super("send_rejected", message);
  }
}
/** A configuration value that cannot work; thrown at startup before anything listens. */
export class ConfigError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("config_error", message, options);
  }
}

/** The HTTP status an error is answered with (500 for anything not ours). */
export function httpStatusOf(err: unknown): number {
  if (!(err instanceof SwitchboardError)) return 500;
  if (err instanceof SendRejectedError) return REJECTED_SEND_STATUS[err.reasonCode] ?? ERROR_TABLE.send_rejected.http;
  return ERROR_TABLE[err.code].http;
}

/** The WuKongIM reason code an error is answered with in a SENDACK or CONNACK. */
export function reasonCodeOf(err: unknown): ReasonCode {
  if (err instanceof SendRejectedError) return err.reasonCode;
  return err instanceof SwitchboardError ? ERROR_TABLE[err.code].reason : ReasonCode.SystemError;
}

/** CIM's code for an error answer; errors not ours are CIM's generic failure. */
export function cimCodeOf(err: unknown): string {
  if (err instanceof SendRejectedError) return httpStatusOf(err) === 400 ? CimCode.ValidationFail : CimCode.Fail;
  return err instanceof SwitchboardError ? ERROR_TABLE[err.code].cim : CimCode.Fail;
}
