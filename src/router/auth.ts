import { timingSafeEqual } from "node:crypto";
import { type ErrorHandler, Hono, type MiddlewareHandler } from "hono";
import type { TokenStore } from "../store/message-store.js";
import { ForbiddenError, UnauthorizedError } from "../util/errors.js";

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
export function withApiKey(module: Hono, apiKey: string | undefined, store?: TokenStore, onError?: ErrorHandler): Hono {
  if (apiKey === undefined) return module;
  const guard = requireApiKey(apiKey);
  const guarded = new Hono();
  for (const path of new Set(module.routes.map((r) => r.path))) {
    guarded.use(path, store && USER_SCOPED_PATHS.has(path) ? apiKeyOrUser(guard, store) : guard);
  }
  // Errors (a refused key included) answered as the module answers them: CIM in its envelope.
  if (onError) guarded.onError(onError);
  guarded.route("/", module);
  return guarded;
}

/**
 * Endpoints a client may call for its own data with its connect token instead of the API key,
 * so an app (or our SDK) can sync after a reconnect without holding the server's key.
 */
export const USER_SCOPED_PATHS = new Set([
  "/conversation/sync",
  "/channel/messagesync",
  "/conversations/clearUnread",
  "/conversations/setUnread",
]);

/**
 * `Authorization: User <uid>:<device_flag>:<token>` (uid URL-encoded) with the token set by
 * /user/token; the body's `uid` / `login_uid` must be that user. Anything else goes to `guard`.
 */
function apiKeyOrUser(guard: MiddlewareHandler, store: TokenStore): MiddlewareHandler {
  return async (c, next) => {
    const auth = c.req.header("authorization");
    const m = auth && /^User\s+([^:\s]+):(\d{1,3}):(.+)$/i.exec(auth);
    if (!m) return guard(c, next);
    let uid: string;
    try {
      uid = decodeURIComponent(m[1]);
    } catch {
      throw new UnauthorizedError("user credentials: uid is not URL-encoded");
    }
    const record = await store.getToken(uid, Number(m[2]));
    if (!record || !sameSecret(record.token, m[3])) throw new UnauthorizedError("wrong user credentials");
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      // The handler answers a body that is not JSON with its own 400.
    }
    // Handlers read `uid` or `login_uid` depending on the endpoint, so every one present must be the
    // caller: checking only the first would let {"uid":"bob","login_uid":"alice"} act on bob.
    for (const field of ["uid", "login_uid"]) {
      const subject = body?.[field];
      if (subject !== undefined && subject !== uid) {
        throw new ForbiddenError(`user ${uid} may only read their own conversations (${field} is another user)`);
      }
    }
    await next();
  };
}
