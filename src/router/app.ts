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
  for (const module of modules) app.route("/", module);

  const methodsByPath = new Map<string, Set<string>>();
  for (const r of app.routes) {
    if (r.method === "ALL") continue;
    if (!methodsByPath.has(r.path)) methodsByPath.set(r.path, new Set());
    methodsByPath.get(r.path)!.add(r.method);
  }
  for (const [path, methods] of methodsByPath) {
    const allow = [...methods].join(", ");
    app.all(path, (c) => {
      c.header("Allow", allow);
      // Through the one error mapping, so CIM paths answer in CIM's envelope too.
      return errorResponse(new MethodNotAllowedError(`${c.req.method} is not allowed on ${path}; use ${allow}`), c, logger);
    });
  }
  app.notFound((c) => errorResponse(new NotFoundError(`no such endpoint: ${c.req.method} ${c.req.path}`), c, logger));
  app.onError((err, c) => errorResponse(err, c, logger));
  return app;
}
