/** Browser and Node entry of the client SDK (WebSocket). For TCP in Node, see ./node.ts. */
export { SwitchboardClient } from "./client.js";
export { ClientClosedError, ConnectionRefusedError, InvalidOptionError, SendError } from "./errors.js";
export {
  type ClientLogger,
  type ClientOptions,
  DEFAULT_BACKOFF,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_GAP_SYNC_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_PONG_TIMEOUT_MS,
  DEFAULT_RESEND_MS,
  DEFAULT_SYNC_INITIAL_LIMIT,
} from "./options.js";
export type { ClientEvents, ClientMessage, ClientState, InboundMessage, SendOptions, SendResult } from "./types.js";
export {
  type ClientTransport,
  type TransportFactory,
  type TransportHandlers,
  type WebSocketConstructor,
  type WebSocketLike,
  webSocketTransport,
} from "./transport.js";
