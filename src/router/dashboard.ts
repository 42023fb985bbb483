import { readFile } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { NodeDirectory } from "../cluster/node-directory.js";
import type { SwitchboardMetrics } from "../metrics/metrics.js";
import { InvalidArgumentError } from "../util/errors.js";
import { packageRoot } from "../util/package-root.js";

/** How often the dashboard stream sends a snapshot. */
export const DASHBOARD_INTERVAL_MS = 1_000;

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".map": "application/json",
};

/**
 * The live cluster view: a JSON snapshot, the same as server-sent events every second, and the
 * web app's static files (chat and dashboard) under /web/.
 */
export function dashboardRoutes(directory: NodeDirectory, metrics: SwitchboardMetrics): Hono {
  const app = new Hono();
  const root = join(packageRoot(), "web");
  const snapshot = async () => ({
    time: Date.now(),
    nodes: directory.nodes().map((n) => ({
      id: n.id,
      connections: n.connections,
      tcp_addr: n.external.tcpAddr,
      ws_addr: n.external.wsAddr,
      wss_addr: n.external.wssAddr,
      last_seen: n.lastSeen,
    })),
    // Counters of this process (every process serves its own; nodes above are cluster-wide).
    process: await metrics.snapshot(),
  });

  app.get("/dashboard/snapshot", async (c) => c.json(await snapshot()));
  app.get("/dashboard/events", (c) =>
    streamSSE(c, async (stream) => {
      let open = true;
      stream.onAbort(() => {
        open = false;
      });
      while (open) {
        await stream.writeSSE({ event: "snapshot", data: JSON.stringify(await snapshot()) });
        await stream.sleep(DASHBOARD_INTERVAL_MS);
      }
    }),
  );

  app.get("/", (c) => c.redirect("/web/"));
  app.get("/web/*", async (c) => {
    let rel: string;
    try {
      rel = decodeURIComponent(c.req.path.slice("/web/".length)) || "index.html";
    } catch {
      throw new InvalidArgumentError("the path is not valid URL encoding");
    }
    const file = normalize(join(root, rel));
    if (!file.startsWith(root + sep)) return c.json({ error: "not_found", message: "no such file" }, 404);
    const type = contentTypes[extname(file)];
    if (!type) return c.json({ error: "not_found", message: "no such file" }, 404);
    try {
      return c.body(await readFile(file), 200, { "Content-Type": type, "Cache-Control": "no-cache" });
    } catch {
      return c.json({ error: "not_found", message: `no such file: /web/${rel}` }, 404);
    }
  });
  return app;
}
