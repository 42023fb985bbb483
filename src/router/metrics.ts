import { Hono, type MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { SwitchboardMetrics } from "../metrics/metrics.js";

/** GET /metrics in Prometheus text format. */
export function metricsRoutes(metrics: SwitchboardMetrics): Hono {
  const app = new Hono();
  app.get("/metrics", async (c) => {
    const { contentType, body } = await metrics.render();
    return c.body(body, 200, { "Content-Type": contentType });
  });
  return app;
}

/** Counts every API request by its route pattern (not the raw path: uids would explode the labels). */
export function countRequests(metrics: SwitchboardMetrics): MiddlewareHandler {
  return async (c, next) => {
    await next();
    // Only middleware matched ("*"): no such endpoint.
    const path = routePath(c, -1);
    const route = path === "*" || path === "/*" ? "unmatched" : path;
    metrics.httpRequests.inc({ route, status: String(c.res.status) });
  };
}
