import { timingSafeEqual } from "node:crypto";
import { Hono, type MiddlewareHandler } from "hono";
import { UnauthorizedError } from "../util/errors.js";

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Server-side endpoints (acting for users) need the API key when one is configured: header
 * `token: KEY` as WuKongIM's managerToken, or `Authorization: Bearer KEY`.
 */
export function requireApiKey(apiKey: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (apiKey !== undefined) {
      const bearer = c.req.header("authorization")?.replace(/^Bearer\s+/i, "");
      const given = c.req.header("token") ?? bearer;
      if (given === undefined || !sameSecret(given, apiKey)) throw new UnauthorizedError();
    }
    await next();
  };
}

/**
 * `module` behind the API key. The check is registered on the module's own paths, ahead of its
 * handlers: a `use("*")` added after the routes never runs (the handler answers first), and one
 * mounted at "/" would also guard the open endpoints (route, health) of the whole app.
 */
export function withApiKey(module: Hono, apiKey: string | undefined): Hono {
  if (apiKey === undefined) return module;
  const guard = requireApiKey(apiKey);
  const guarded = new Hono();
  for (const path of new Set(module.routes.map((r) => r.path))) guarded.use(path, guard);
  guarded.route("/", module);
  return guarded;
}
