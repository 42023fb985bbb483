/**
 * Server entry of the `switchboard` package: start and embed a Switchboard (router HTTP API and
 * gateway nodes) from code, with its types. The CLI (`switchboard serve`) does the same with options
 * from flags, env and a config file.
 *
 *   import { resolveOptions, startSwitchboard } from "switchboard";
 *   const sb = await startSwitchboard(resolveOptions({ overrides: { apiPort: 0, tcpPort: 0, wsPort: 0, wssPort: 0 } }));
 *   console.log(sb.apiUrl);
 *   await sb.close();
 *
 * The client SDK is `switchboard/client` (browsers and Node, WebSocket) and `switchboard/client/node`
 * (adds the TCP transport).
 */

// Starting and stopping.
export { startSwitchboard, type Switchboard } from "./server/switchboard.js";
export { resolveOptions, type ResolveInput, type ServeOptions } from "./config/options.js";

// Logging: startSwitchboard logs nothing unless given a logger.
export { createLogger, silentLogger, type Logger, type LogLevel } from "./util/logger.js";

// Errors: each a SwitchboardError with a stable `code`; a setting that cannot work is a ConfigError.
export {
  ConfigError,
  type ErrorCode,
  ForbiddenError,
  InvalidArgumentError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  SendRejectedError,
  StoreUnavailableError,
  SwitchboardError,
  UnauthorizedError,
  UnavailableError,
} from "./util/errors.js";

// The cluster's concerns, as the interfaces `switchboard.backends` holds. Which implementation backs
// each one is chosen by the options (memory and SQLite by default; redisUrl, natsUrl, postgresUrl).
export type { MessageBus } from "./cluster/message-bus.js";
export type { NodeRegistry } from "./cluster/node-registry.js";
export type { Presence } from "./cluster/presence.js";
export type { MessageStore } from "./store/message-store.js";
