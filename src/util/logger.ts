import pino from "pino";

/** The logging surface library code may use: pino's, so the default is pino itself. */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/** Structured JSON logs on stdout (or stderr), secrets redacted by key name. */
export function createLogger(level: LogLevel = "info", destination: 1 | 2 = 1): Logger {
  return pino(
    {
      level,
      base: { app: "switchboard" },
      redact: { paths: ["token", "*.token", "apiKey", "*.apiKey", "authorization", "*.authorization"], censor: "[redacted]" },
    },
    pino.destination({ fd: destination, sync: false }),
  );
}

/** A logger that drops everything: the default for components built without one (tests, embedding). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};
