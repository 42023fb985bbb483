import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import type { Hono } from "hono";
import { ConfigError } from "../util/errors.js";

/** Slowloris and header-flood guards for the API server. */
export const HTTP_HEADERS_TIMEOUT_MS = 10_000;
export const HTTP_REQUEST_TIMEOUT_MS = 30_000;
export const HTTP_MAX_HEADERS = 100;
export const HTTP_KEEP_ALIVE_TIMEOUT_MS = 5_000;

export interface HttpServerHandle {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startHttpServer(app: Hono, host: string, port: number): Promise<HttpServerHandle> {
  const server = createAdaptorServer({
    fetch: app.fetch,
    serverOptions: {
      headersTimeout: HTTP_HEADERS_TIMEOUT_MS,
      requestTimeout: HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeout: HTTP_KEEP_ALIVE_TIMEOUT_MS,
      // Node checks the two timeouts above only this often (30 s by default): a slowloris client
      // would hold its connection three times longer than headersTimeout says.
      connectionsCheckingInterval: 1_000,
    },
  }) as Server;
  server.maxHeadersCount = HTTP_MAX_HEADERS;
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(err.code === "EADDRINUSE" ? new ConfigError(`API port ${port} on ${host} is already in use (--api-port)`) : err);
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    server,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
