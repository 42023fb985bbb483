/** Browser and Node entry of the client SDK (WebSocket). For TCP in Node, see ./node.ts. */
export { SwitchboardClient, SendError, type ClientMessage, type ClientOptions, type ClientEvents, type SendResult } from "./client.js";
export { webSocketTransport, type TransportFactory, type WebSocketConstructor } from "./transport.js";
