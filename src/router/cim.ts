/**
 * CIM's router API on top of Switchboard: accounts, login (a node picked by the configured
 * strategy, the route saved on the account, plus a connect token), online users, offline, p2p and
 * group messages. Field names, the `{code, message, reqNo, dataBody}` envelope and the codes are
 * CIM's (StatusEnum); messages go through the messenger, so they are stored, delivered to whichever
 * node holds the user, and synced when offline. Errors keep CIM's envelope (http-errors.ts) with an
 * HTTP status that says what went wrong (CIM itself answers 200 with the code).
 *
 * Access: all six endpoints sit behind the API key when one is configured (switchboard.ts), also
 * /registerAccount and /login, which CIM's client calls itself. CIM has no passwords: /login with a
 * known userId + userName hands out a connect token, so an open /login would let anyone connect as
 * anyone, and an open /registerAccount would let anyone fill the store. With a key, the client's
 * own server calls them (as WuKongIM's /user/token); with `--api-key off` CIM's client flow works
 * unchanged.
 */
import { randomBytes } from "node:crypto";
import { type Context, Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { Presence } from "../cluster/presence.js";
import type { Messenger } from "../messaging/messenger.js";
import { ReasonCode } from "../protocol/constants.js";
import { ChannelType } from "../store/channel-id.js";
import type { Account, AccountStore, TokenStore } from "../store/message-store.js";
import { CimCode, InvalidArgumentError, SwitchboardError, cimCodeOf, httpStatusOf } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import type { UserAssigner } from "./assigner.js";
import { readObject } from "./body.js";

/** Most recipients of one groupRoute to "everyone online". */
export const CIM_BROADCAST_LIMIT = 10_000;
/** Sends of a broadcast groupRoute in flight at once. */
const BROADCAST_CHUNK = 500;

/** reqNo of each CIM request whose body was read, so error answers echo it too. */
const reqNos = new WeakMap<Request, string>();

export function cimReqNo(c: Context): string | null {
  return reqNos.get(c.req.raw) ?? null;
}

export interface CimDeps {
  store: AccountStore & TokenStore;
  presence: Presence;
  messenger: Messenger;
  assigner: UserAssigner;
  apiPort: () => number;
  logger: Logger;
}

function ok(c: Context, dataBody: unknown = null) {
  return c.json({ code: CimCode.Success, message: "success", reqNo: cimReqNo(c), dataBody });
}

/** A CIM request body: a JSON object whose optional reqNo (string) and timeStamp (number) are checked. */
async function readCim(c: Context): Promise<Record<string, unknown>> {
  const body = await readObject(c);
  const { reqNo, timeStamp } = body;
  if (reqNo !== undefined && reqNo !== null) {
    const text = typeof reqNo === "number" && Number.isFinite(reqNo) ? String(reqNo) : reqNo;
    if (typeof text !== "string" || text.length > 128) throw new InvalidArgumentError("reqNo must be a string of at most 128 characters");
    reqNos.set(c.req.raw, text);
  }
  if (timeStamp !== undefined && timeStamp !== null && !(typeof timeStamp === "number" && Number.isFinite(timeStamp))) {
    throw new InvalidArgumentError("timeStamp must be a number");
  }
  return body;
}

function str(body: Record<string, unknown>, key: string, max = 4096): string {
  const v = body[key];
  if (typeof v === "number" && Number.isSafeInteger(v)) return String(v);
  if (v === undefined || v === null || v === "") throw new InvalidArgumentError(`${key} is required`);
  if (typeof v !== "string") throw new InvalidArgumentError(`${key} must be a string`);
  if (v.length > max) throw new InvalidArgumentError(`${key} is longer than ${max} characters`);
  return v;
}

/** A CIM user id: digits, as registerAccount gives them (CIM's ids are Longs; numbers are accepted). */
function userId(body: Record<string, unknown>, key: string): string {
  const id = str(body, key, 20);
  if (!/^\d+$/.test(id)) throw new InvalidArgumentError(`${key} must be a user id (digits)`);
  return id;
}

/** `deviceFlag` (or WuKongIM's `device_flag`) of /login: 0 app (default), 1 web, 2 pc … up to 255. */
function deviceFlag(body: Record<string, unknown>): number {
  const v = body.deviceFlag ?? body.device_flag;
  if (v === undefined || v === null) return 0;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 255)
    throw new InvalidArgumentError("deviceFlag must be a whole number from 0 to 255");
  return v;
}

async function account(store: AccountStore, id: string, what: string): Promise<Account> {
  const [found] = await store.getAccounts([id]);
  if (!found) throw new SwitchboardError("account_not_found", `${what} ${id} is not registered`);
  return found;
}

/** WuKongIM text content, so the SDK and the web chat show it as text. */
const textPayload = (msg: string) => new TextEncoder().encode(JSON.stringify({ type: 1, content: msg }));

export function cimRoutes(d: CimDeps): Hono {
  const app = new Hono();
  // CIM's endpoints answer errors in CIM's envelope (hono's route() keeps a sub-app's onError).
  app.onError((err, c) => cimErrorResponse(err, c, d.logger));
  const sendText = (from: string, channelId: string, channelType: number, msg: string) =>
    d.messenger.send({
      fromUid: from,
      channelId,
      channelType,
      clientMsgNo: randomBytes(12).toString("hex"),
      header: { noPersist: false, redDot: true, syncOnce: false },
      setting: 0,
      expire: 0,
      topic: "",
      payload: textPayload(msg),
    });

  app.post("/registerAccount", async (c) => {
    const body = await readCim(c);
    const a = await d.store.registerAccount(str(body, "userName", 64));
    return ok(c, { userId: Number(a.userId), userName: a.userName });
  });

  // Logging in again is allowed (WuKongIM is multi-device; CIM answers 5000 REPEAT_LOGIN): it
  // issues a fresh token for that device flag, and connecting with it displaces the older session
  // of the same device only.
  app.post("/login", async (c) => {
    const body = await readCim(c);
    const id = userId(body, "userId");
    const name = str(body, "userName", 64);
    const device = deviceFlag(body);
    const found = await account(d.store, id, "user");
    if (found.userName !== name) {
      throw new SwitchboardError("account_mismatch", `userName does not match the account of user ${id}`);
    }
    const [group] = await d.assigner.assign([id]);
    const token = randomBytes(18).toString("base64url");
    await d.store.setToken({ uid: id, deviceFlag: device, token, deviceLevel: 1 });
    await d.store.setAccountRoute(id, group.node.id);
    const tcp = group.node.external.tcpAddr;
    const at = tcp.lastIndexOf(":");
    return ok(c, {
      ip: tcp.slice(0, at).replace(/^\[(.*)\]$/, "$1"),
      cimServerPort: Number(tcp.slice(at + 1)),
      httpPort: d.apiPort(),
      tcp_addr: tcp,
      ws_addr: group.node.external.wsAddr,
      wss_addr: group.node.external.wssAddr,
      node: group.node.id,
      token,
      device_flag: device,
    });
  });

  const onlineUser = async (c: Context) => {
    // CIM's onlineUser takes no body; a reqNo is echoed when one comes (body or ?reqNo=).
    if (c.req.method === "POST" && (await c.req.text()).trim() !== "") await readCim(c);
    const query = c.req.query("reqNo");
    if (query !== undefined && !reqNos.has(c.req.raw)) reqNos.set(c.req.raw, query.slice(0, 128));
    const uids = await d.presence.onlineUids(CIM_BROADCAST_LIMIT);
    const accounts = await d.store.getAccounts(uids.filter((u) => /^\d+$/.test(u)));
    const names = new Map(accounts.map((a) => [a.userId, a.userName]));
    const users = uids.map((u) => ({ userId: /^\d+$/.test(u) ? Number(u) : u, userName: names.get(u) ?? u }));
    return ok(c, users);
  };
  app.get("/onlineUser", onlineUser);
  app.post("/onlineUser", onlineUser);

  // Kicks every session of the user (as /user/device_quit) and clears the route its login saved.
  // The connect token stays until the next /login replaces it; our SDK does not reconnect after a
  // kick (reason ConnectKick).
  app.post("/offLine", async (c) => {
    const body = await readCim(c);
    const id = userId(body, "userId");
    const found = await account(d.store, id, "user");
    const bindings = (await d.presence.lookup([id])).get(id) ?? [];
    for (const b of bindings) {
      d.messenger.kick(
        { nodeId: b.nodeId, uid: id, deviceFlag: b.deviceFlag, exceptEpoch: b.epoch + 1 },
        ReasonCode.ConnectKick,
        "taken offline by /offLine",
      );
    }
    await d.store.setAccountRoute(id, null);
    return ok(c, { kicked: bindings.length, clearedRoute: found.route?.nodeId ?? null });
  });

  app.post("/p2pRoute", async (c) => {
    const body = await readCim(c);
    const from = userId(body, "userId");
    const to = userId(body, "receiveUserId");
    const msg = str(body, "msg");
    await account(d.store, from, "sender");
    await account(d.store, to, "receiver");
    const { result } = await sendText(from, to, ChannelType.Person, msg);
    const online = (await d.presence.lookup([to])).has(to);
    return ok(c, { messageId: result.messageId, messageSeq: result.messageSeq, online });
  });

  app.post("/groupRoute", async (c) => {
    const body = await readCim(c);
    const from = userId(body, "userId");
    const msg = str(body, "msg");
    const groupId = body.groupId === undefined || body.groupId === null ? undefined : str(body, "groupId", 128);
    await account(d.store, from, "sender");
    if (groupId !== undefined) {
      // A WuKongIM group channel: the messenger refuses a sender who is not a member (403).
      const { result } = await sendText(from, groupId, ChannelType.Group, msg);
      return ok(c, { messageId: result.messageId, messageSeq: result.messageSeq });
    }
    // CIM's group chat: everyone online except the sender, each as a private message.
    const targets = (await d.presence.onlineUids(CIM_BROADCAST_LIMIT)).filter((u) => u !== from);
    for (let i = 0; i < targets.length; i += BROADCAST_CHUNK) {
      await Promise.all(targets.slice(i, i + BROADCAST_CHUNK).map((to) => sendText(from, to, ChannelType.Person, msg)));
    }
    return ok(c, { delivered: targets.length });
  });
  return app;
}

/** An error in CIM's envelope, with CIM's code from the one error table and a telling HTTP status. */
export function cimErrorResponse(err: unknown, c: Context, logger: Logger): Response {
  const known = err instanceof SwitchboardError || err instanceof HTTPException;
  if (!known) logger.error({ err, method: c.req.method, path: c.req.path }, "internal error while serving a CIM request");
  const status = err instanceof HTTPException ? err.status : httpStatusOf(err);
  if (status === 413) c.header("Connection", "close");
  const message = known ? err.message || "bad request" : "internal server error";
  const code = err instanceof HTTPException ? (status === 413 || status === 400 ? CimCode.ValidationFail : CimCode.Fail) : cimCodeOf(err);
  return c.json({ code, message, reqNo: cimReqNo(c), dataBody: null }, status as 400);
}
