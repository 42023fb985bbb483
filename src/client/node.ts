/** Node entry of the client SDK: everything in index.ts plus the TCP transport. */
export * from "./index.js";
export { tcpTransport } from "./transport-tcp.js";
