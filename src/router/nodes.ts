import { Hono } from "hono";
import type { NodeDirectory } from "../cluster/node-directory.js";

/** Liveness and the cluster's nodes as this process sees them. */
export function nodeRoutes(directory: NodeDirectory, startedAt: number): Hono {
  const app = new Hono();
  app.get("/health", (c) => {
    const nodes = directory.nodes().length;
    const body = { status: nodes > 0 ? "ok" : "degraded", nodes, uptime_s: Math.round((Date.now() - startedAt) / 1000) };
    return c.json(body, nodes > 0 ? 200 : 503);
  });
  app.get("/nodes", (c) =>
    c.json(
      directory.nodes().map((n) => ({
        id: n.id,
        status: "up",
        connections: n.connections,
        tcp_addr: n.external.tcpAddr,
        ws_addr: n.external.wsAddr,
        wss_addr: n.external.wssAddr,
        intranet: { tcp_addr: n.intranet.tcpAddr, ws_addr: n.intranet.wsAddr, wss_addr: n.intranet.wssAddr },
        api_url: n.apiUrl,
        started_at: new Date(n.startedAt).toISOString(),
        last_seen: new Date(n.lastSeen).toISOString(),
      })),
    ),
  );
  return app;
}
