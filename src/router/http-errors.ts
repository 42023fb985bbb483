import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { SendRejectedError, SwitchboardError, httpStatusOf } from "../util/errors.js";
import type { Logger } from "../util/logger.js";

/** The body of every error answer: a stable code and a sentence for people. */
export interface ErrorBody {
  error: string;
  message: string;
  /** For a refused send: the WuKongIM reason code a SENDACK would carry (e.g. 3 not a member). */
  reason?: number;
}

/**
 * The WuKongIM-style API's error answer: status from the one error table (util/errors.ts), the
 * code and a sentence. Anything not ours is a 500 whose details go to the log, never to the
 * client. (CIM's endpoints answer in CIM's envelope: router/cim.ts.)
 */
export function errorResponse(err: unknown, c: Context, logger: Logger): Response {
  if (err instanceof HTTPException) {
    if (err.status === 413) c.header("Connection", "close");
    const code = err.status === 413 ? "payload_too_large" : err.status === 401 ? "unauthorized" : "bad_request";
    return c.json<ErrorBody>({ error: code, message: err.message || "bad request" }, err.status);
  }
  if (!(err instanceof SwitchboardError)) {
    logger.error({ err, method: c.req.method, path: c.req.path }, "internal error while serving a request");
    return c.json<ErrorBody>({ error: "internal", message: "internal server error" }, 500);
  }
  const status = httpStatusOf(err);
  // The rest of an oversized body is still on the socket: close it rather than reuse it.
  if (status === 413) c.header("Connection", "close");
  const body: ErrorBody = { error: err.code, message: err.message };
  if (err instanceof SendRejectedError) body.reason = err.reasonCode;
  return c.json<ErrorBody>(body, status as 400);
}
