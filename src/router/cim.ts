/**
 * Seed 003's CIM router API on top of Switchboard: accounts, login (a node picked by the configured
 * strategy, plus a connect token), online users, offline, p2p and group messages. Field names and
 * the `{code, message, reqNo, dataBody}` envelope are CIM's; messages go through the messenger,
 * so they are stored, delivered to whichever node holds the user, and synced when offline.
 * Errors keep CIM's envelope (http-errors.ts) with an HTTP status that says what went wrong.
 */
import { randomBytes } from "node:crypto";
import { type Context, Hono } from "hono";
import type { Presence } from "../cluster/presence.js";
import type { Messenger } from "../gateway/messenger.js";
import { ReasonCode } from "../protocol/constants.js";
import { ChannelType } from "../store/channel-id.js";
import type { Account, MessageStore } from "../store/message-store.js";
import { InvalidArgumentError, NotFoundError } from "../util/errors.js";
import type { UserAssigner } from "./assigner.js";
import { readObject } from "./body.js";

/** CIM's StatusEnum codes. */
export const CimCode = {
  Success: "9000",
  ValidationFail: "3000",
  Fail: "4000",
  OffLine: "7000",
  AccountNotMatch: "9100",
} as const;

export const CIM_PATHS = new Set(["/registerAccount", "/login", "/onlineUser", "/offLine", "/p2pRoute", "/groupRoute"]);

/** Most recipients of one groupRoute to "everyone online". */
export const CIM_BROADCAST_LIMIT = 10_000;

export interface CimDeps {
  store: MessageStore;
  presence: Presence;
  messenger: Messenger;
  assigner: UserAssigner;
  apiPort: () => number;
}

function ok(c: Context, reqNo: unknown, dataBody: unknown = null) {
  return c.json({ code: CimCode.Success, message: "success", reqNo: typeof reqNo === "string" ? reqNo : null, dataBody });
}

function str(body: Record<string, unknown>, key: string, max = 4096): string {
  const v = body[key];
  if (typeof v === "number" && Number.isSafeInteger(v)) return String(v);
  if (typeof v !== "string" || v.length === 0) throw new InvalidArgumentError(`${key} is required`);
  if (v.length > max) throw new InvalidArgumentError(`${key} is longer than ${max} characters`);
  return v;
}

/** A CIM user id: digits, as registerAccount gives them (CIM's ids are Longs; numbers are accepted). */
function userId(body: Record<string, unknown>, key: string): string {
  const id = str(body, key, 20);
  if (!/^\d+$/.test(id)) throw new InvalidArgumentError(`${key} must be a user id (digits)`);
  return id;
}

async function account(store: MessageStore, id: string, what: string): Promise<Account> {
  const [found] = await store.getAccounts([id]);
  if (!found) throw new NotFoundError(`${what} ${id} is not registered`);
  return found;
}

/** WuKongIM text content, so the SDK and the web chat show it as text. */
const textPayload = (msg: string) => new TextEncoder().encode(JSON.stringify({ type: 1, content: msg }));

export function cimRoutes(d: CimDeps): Hono {
  const app = new Hono();
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
    const body = await readObject(c);
    const a = await d.store.registerAccount(str(body, "userName", 64));
    return ok(c, body.reqNo, { userId: Number(a.userId), userName: a.userName });
  });

  app.post("/login", async (c) => {
    const body = await readObject(c);
    const id = userId(body, "userId");
    const name = str(body, "userName", 64);
    const [found] = await d.store.getAccounts([id]);
    if (!found || found.userName !== name) {
      return c.json(
        {
          code: CimCode.AccountNotMatch,
          message: "userId and userName do not match a registered account",
          reqNo: body.reqNo ?? null,
          dataBody: null,
        },
        403,
      );
    }
    const [group] = await d.assigner.assign([id]);
    const token = randomBytes(18).toString("base64url");
    const deviceFlag = 0;
    await d.store.setToken({ uid: id, deviceFlag, token, deviceLevel: 1 });
    const tcp = group.node.external.tcpAddr;
    const at = tcp.lastIndexOf(":");
    return ok(c, body.reqNo, {
      ip: tcp.slice(0, at),
      cimServerPort: Number(tcp.slice(at + 1)),
      httpPort: d.apiPort(),
      tcp_addr: tcp,
      ws_addr: group.node.external.wsAddr,
      wss_addr: group.node.external.wssAddr,
      node: group.node.id,
      token,
      device_flag: deviceFlag,
    });
  });

  const onlineUser = async (c: Context) => {
    const uids = await d.presence.onlineUids(CIM_BROADCAST_LIMIT);
    const accounts = await d.store.getAccounts(uids.filter((u) => /^\d+$/.test(u)));
    const names = new Map(accounts.map((a) => [a.userId, a.userName]));
    const users = uids.map((u) => ({ userId: /^\d+$/.test(u) ? Number(u) : u, userName: names.get(u) ?? u }));
    const reqNo = c.req.method === "POST" ? (await readObject(c).catch(() => ({}) as Record<string, unknown>)).reqNo : c.req.query("reqNo");
    return ok(c, reqNo, users);
  };
  app.get("/onlineUser", onlineUser);
  app.post("/onlineUser", onlineUser);

  app.post("/offLine", async (c) => {
    const body = await readObject(c);
    const id = userId(body, "userId");
    const bindings = (await d.presence.lookup([id])).get(id) ?? [];
    for (const b of bindings) {
      d.messenger.kick(
        { nodeId: b.nodeId, uid: id, deviceFlag: b.deviceFlag, exceptEpoch: b.epoch + 1 },
        ReasonCode.ConnectKick,
        "taken offline by /offLine",
      );
    }
    return ok(c, body.reqNo, { kicked: bindings.length });
  });

  app.post("/p2pRoute", async (c) => {
    const body = await readObject(c);
    const from = userId(body, "userId");
    const to = userId(body, "receiveUserId");
    const msg = str(body, "msg");
    await account(d.store, from, "sender");
    await account(d.store, to, "receiver");
    const { result } = await sendText(from, to, ChannelType.Person, msg);
    const online = (await d.presence.lookup([to])).has(to);
    return ok(c, body.reqNo, { messageId: result.messageId, messageSeq: result.messageSeq, online });
  });

  app.post("/groupRoute", async (c) => {
    const body = await readObject(c);
    const from = userId(body, "userId");
    const msg = str(body, "msg");
    await account(d.store, from, "sender");
    if (body.groupId !== undefined && body.groupId !== null) {
      const group = str(body, "groupId", 128);
      const { result } = await sendText(from, group, ChannelType.Group, msg);
      return ok(c, body.reqNo, { messageId: result.messageId, messageSeq: result.messageSeq });
    }
    // CIM's group chat: everyone online except the sender, each as a private message.
    const targets = (await d.presence.onlineUids(CIM_BROADCAST_LIMIT)).filter((u) => u !== from);
    await Promise.all(targets.map((to) => sendText(from, to, ChannelType.Person, msg)));
    return ok(c, body.reqNo, { delivered: targets.length });
  });
  return app;
}
