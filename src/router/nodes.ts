import { Hono } from "hono";
import type { NodeDirectory } from "../cluster/node-directory.js";
import type { StoreStatus } from "../store/store-health.js";

/** Something /health reports on, e.g. a node's bus subscription. */
export interface HealthCheck {
  name: string;
  ok(): boolean;
  detail(): string;
}

/**
 * Liveness and the cluster's nodes as this process sees them. `checks` may grow after start.
 * /health is 503 while any check fails, the store's included: a node that cannot store anything
 * should get no new users from a load balancer.
 */
export function nodeRoutes(
  directory: NodeDirectory,
  startedAt: number,
  checks: readonly HealthCheck[] = [],
  storeStatus?: () => StoreStatus,
): Hono {
  const app = new Hono();
  app.get("/health", (c) => {
    const nodes = directory.nodes().length;
    const results = checks.map((k) => ({ name: k.name, ok: k.ok(), detail: k.detail() }));
    const s = storeStatus?.();
    const store = s && {
      backend: s.backend,
      available: s.available,
      since: new Date(s.since).toISOString(),
      for_s: Math.round((Date.now() - s.since) / 1000),
      ...(s.error !== undefined ? { error: s.error } : {}),
    };
    if (s) {
      const detail = s.available ? `${s.backend} serving` : `${s.backend} unavailable since ${store!.since}: ${s.error ?? "unknown"}`;
      results.push({ name: "store", ok: s.available, detail });
    }
    const healthy = nodes > 0 && results.every((r) => r.ok);
    const uptime = Math.round((Date.now() - startedAt) / 1000);
    const body = { status: healthy ? "ok" : "degraded", nodes, uptime_s: uptime, ...(store ? { store } : {}), checks: results };
    return c.json(body, healthy ? 200 : 503);
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
