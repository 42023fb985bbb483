import net from "node:net";
import type { TransportFactory } from "./transport.js";

/** TCP to a node's tcp_addr ("host:port"), Node only. */
export function tcpTransport(): TransportFactory {
  return (addr, handlers) => {
    const at = addr.lastIndexOf(":");
    const socket = net.connect({ host: addr.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(addr.slice(at + 1)) });
    socket.setNoDelay(true);
    let closed = false;
    const close = (reason: string) => {
      if (closed) return;
      closed = true;
      handlers.onClose(reason);
    };
    socket.on("connect", () => handlers.onOpen());
    socket.on("data", (chunk) => handlers.onData(chunk));
    socket.on("error", (err) => close(`tcp error: ${err.message}`));
    socket.on("close", () => close("tcp closed"));
    return {
      write: (bytes) => {
        if (!socket.destroyed) socket.write(bytes);
      },
      close: () => {
        socket.destroy();
        close("closed by the client");
      },
    };
  };
}
