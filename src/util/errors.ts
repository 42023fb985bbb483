/**
 * Typed errors with stable codes. Library code throws these; the router maps them to HTTP in one
 * place (router/http-errors.ts) and the gateway maps them to WuKongIM reason codes.
 */
export class SwitchboardError extends Error {
  /** Stable machine-readable code, e.g. "bad_request". */
  readonly code: string;
  /** HTTP status the router answers with. */
  readonly status: number;
  constructor(code: string, status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }
}

export class InvalidArgumentError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("bad_request", 400, message, options);
  }
}
export class UnauthorizedError extends SwitchboardError {
  constructor(message = "missing or wrong API key", options?: ErrorOptions) {
    super("unauthorized", 401, message, options);
  }
}
export class ForbiddenError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("forbidden", 403, message, options);
  }
}
export class NotFoundError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("not_found", 404, message, options);
  }
}
export class MethodNotAllowedError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("method_not_allowed", 405, message, options);
  }
}
export class PayloadTooLargeError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("payload_too_large", 413, message, options);
  }
}
export class RateLimitedError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("rate_limited", 429, message, options);
  }
}
export class UnavailableError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("unavailable", 503, message, options);
  }
}
/**
 * The message store cannot serve right now (unreachable, timed out, disk full, read-only, locked).
 * Nothing was stored by the failing call, or the caller cannot know: a send is never acknowledged
 * on it, and a retry with the same client_msg_no is safe.
 */
export class StoreUnavailableError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("store_unavailable", 503, message, options);
  }
}
/** A configuration value that cannot work; thrown at startup before anything listens. */
export class ConfigError extends SwitchboardError {
  constructor(message: string, options?: ErrorOptions) {
    super("config_error", 500, message, options);
  }
}
