/**
 * How the client reaches a node: a byte stream, whatever carries it. WebSocket works in browsers
 * and Node (pass `ws`'s constructor in Node 20); TCP is in transport-tcp.ts so that browser bundles
 * never pull in node:net.
 */
export interface TransportHandlers {
  onOpen(): void;
  onData(chunk: Uint8Array): void;
  onClose(reason: string): void;
}

export interface ClientTransport {
  write(bytes: Uint8Array): void;
  close(): void;
}

/** Opens a transport to an address from the route API (ws_addr, wss_addr or tcp_addr). */
export type TransportFactory = (addr: string, handlers: TransportHandlers) => ClientTransport;

/** The part of the WebSocket API the client uses (browser WebSocket and `ws` both have it). */
export interface WebSocketLike {
  binaryType: string;
  readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export function webSocketTransport(WebSocketImpl?: WebSocketConstructor): TransportFactory {
  return (addr, handlers) => {
    const Impl = WebSocketImpl ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Impl) throw new Error("no WebSocket implementation: pass one (e.g. the `ws` package) as options.WebSocket");
    const ws = new Impl(addr.endsWith("/") ? addr : `${addr}/`);
    ws.binaryType = "arraybuffer";
    let closed = false;
    const close = (reason: string) => {
      if (closed) return;
      closed = true;
      handlers.onClose(reason);
    };
    ws.onopen = () => handlers.onOpen();
    ws.onmessage = (ev) => {
      const d = ev.data;
      if (d instanceof ArrayBuffer) handlers.onData(new Uint8Array(d));
      else if (ArrayBuffer.isView(d)) handlers.onData(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
    };
    ws.onclose = (ev) => close(`websocket closed (${ev.code ?? "?"}${ev.reason ? `: ${ev.reason}` : ""})`);
    ws.onerror = () => close("websocket error");
    return {
      write: (bytes) => {
        if (ws.readyState === 1) ws.send(bytes);
      },
      close: () => {
        try {
          ws.close(1000);
        } catch {
          // already closing
        }
        close("closed by the client");
      },
    };
  };
}
