import { Hono } from "hono";
import type { NodeInfo } from "../cluster/node-registry.js";
import { InvalidArgumentError, PayloadTooLargeError } from "../util/errors.js";
import { uidProblem } from "../util/validate.js";
import type { UserAssigner } from "./assigner.js";
import { intranetParam, readJson } from "./body.js";

export interface RouteGroup {
  uids: string[];
  tcp_addr: string;
  ws_addr: string;
  wss_addr: string;
}

function addresses(node: NodeInfo, intranet: boolean) {
  const a = intranet ? node.intranet : node.external;
  return { tcp_addr: a.tcpAddr, ws_addr: a.wsAddr, wss_addr: a.wssAddr };
}

/**
 * The uids of a /route/batch body: an array of valid uid strings. Repeated uids are kept once, at
 * their first position, so every uid appears in exactly one group.
 */
export function parseUidBatch(body: unknown, limit: number): string[] {
  if (!Array.isArray(body)) throw new InvalidArgumentError("request body must be a JSON array of uid strings");
  if (body.length > limit) throw new PayloadTooLargeError(`batch has ${body.length} uids; at most ${limit} per request`);
  const seen = new Set<string>();
  const uids: string[] = [];
  body.forEach((uid, i) => {
    const problem = uidProblem(uid);
    if (problem) throw new InvalidArgumentError(`uid at index ${i} ${problem}`);
    if (!seen.has(uid)) {
      seen.add(uid);
      uids.push(uid);
    }
  });
  return uids;
}

/** The route API: which node each user should connect to, and its addresses. */
export function routeRoutes(assigner: UserAssigner, batchLimit: number): Hono {
  const app = new Hono();

  app.get("/route", async (c) => {
    const intranet = intranetParam(c);
    const uid = c.req.query("uid");
    if (uid !== undefined) {
      const problem = uidProblem(uid);
      if (problem) throw new InvalidArgumentError(`uid ${problem}`);
    }
    // Without a uid any node will do: the one the strategy gives an anonymous key.
    const [group] = await assigner.assign([uid ?? `anonymous-${Math.random()}`]);
    return c.json(addresses(group.node, intranet));
  });

  app.post("/route/batch", async (c) => {
    const intranet = intranetParam(c);
    const uids = parseUidBatch(await readJson(c), batchLimit);
    const groups = await assigner.assign(uids);
    return c.json<RouteGroup[]>(groups.map((g) => ({ uids: g.uids, ...addresses(g.node, intranet) })));
  });

  return app;
}
