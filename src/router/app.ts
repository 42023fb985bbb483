import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { SwitchboardMetrics } from "../metrics/metrics.js";
import { MethodNotAllowedError, NotFoundError, PayloadTooLargeError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { errorResponse } from "./http-errors.js";
import { countRequests } from "./metrics.js";

/** Largest request body the API reads (a batch of 1000 uids is ~20 KB; messages are ≤ 1 MiB base64). */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

/**
 * The router HTTP API: resource modules mounted side by side, one error mapping, 404 for unknown
 * paths and 405 (with Allow) for a known path with the wrong method.
 */
export function createRouterApp(modules: Hono[], logger: Logger, metrics?: SwitchboardMetrics): Hono {
  const app = new Hono();
  if (metrics) app.use("*", countRequests(metrics));
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new PayloadTooLargeError(`request body is larger than ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  // A known path with the wrong method is a 405 with Allow, thrown inside the module that owns the
  // path, so the module's own error answer (CIM's envelope on CIM's paths) renders it.
  const methodsByPath = new Map<string, Set<string>>();
  const ownerOf = new Map<string, Hono>();
  for (const module of modules)
    for (const r of module.routes) {
      if (r.method === "ALL") continue;
      if (!methodsByPath.has(r.path)) methodsByPath.set(r.path, new Set());
      methodsByPath.get(r.path)!.add(r.method);
      if (!ownerOf.has(r.path)) ownerOf.set(r.path, module);
    }
  for (const [path, methods] of methodsByPath) {
    const allow = [...methods].join(", ");
    ownerOf.get(path)!.all(path, (c) => {
      c.header("Allow", allow);
      throw new MethodNotAllowedError(`${c.req.method} is not allowed on ${path}; use ${allow}`);
    });
  }
  for (const module of modules) app.route("/", module);
  app.notFound((c) => errorResponse(new NotFoundError(`no such endpoint: ${c.req.method} ${c.req.path}`), c, logger));
  app.onError((err, c) => errorResponse(err, c, logger));
  return app;
}
