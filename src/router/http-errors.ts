import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { SendRejectedError } from "../gateway/messenger.js";
import { SwitchboardError } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { CIM_PATHS, cimCodeFor, cimReqNo } from "./cim.js";

/** The body of every error answer: a stable code and a sentence for people. */
export interface ErrorBody {
  error: string;
  message: string;
  /** For a refused send: the WuKongIM reason code a SENDACK would carry (e.g. 3 not a member). */
  reason?: number;
}

/**
 * The one place errors become HTTP answers. Known errors keep their status and message; anything
 * else is a 500 whose details go to the log, never to the client.
 */
export function errorResponse(err: unknown, c: Context, logger: Logger): Response {
  if (CIM_PATHS.has(c.req.path)) return cimErrorResponse(err, c, logger);
  // The rest of an oversized body is still on the socket: close it rather than reuse it.
  if ((err instanceof SwitchboardError || err instanceof HTTPException) && err.status === 413) c.header("Connection", "close");
  if (err instanceof SendRejectedError)
    return c.json<ErrorBody>({ error: err.code, message: err.message, reason: err.reasonCode }, err.status as 400);
  if (err instanceof SwitchboardError) return c.json<ErrorBody>({ error: err.code, message: err.message }, err.status as 400);
  if (err instanceof HTTPException) {
    const code = err.status === 413 ? "payload_too_large" : err.status === 401 ? "unauthorized" : "bad_request";
    return c.json<ErrorBody>({ error: code, message: err.message || "bad request" }, err.status);
  }
  logger.error({ err, method: c.req.method, path: c.req.path }, "internal error while serving a request");
  return c.json<ErrorBody>({ error: "internal", message: "internal server error" }, 500);
}

/** CIM endpoints answer errors in CIM's envelope, with CIM's code and a telling HTTP status. */
function cimErrorResponse(err: unknown, c: Context, logger: Logger): Response {
  const known = err instanceof SwitchboardError || err instanceof HTTPException;
  if (!known) logger.error({ err, method: c.req.method, path: c.req.path }, "internal error while serving a CIM request");
  const status = known ? err.status : 500;
  if (status === 413) c.header("Connection", "close");
  const message = known ? err.message || "bad request" : "internal server error";
  return c.json({ code: cimCodeFor(err, status), message, reqNo: cimReqNo(c), dataBody: null }, status as 400);
}
