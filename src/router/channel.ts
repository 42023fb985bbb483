import { Hono } from "hono";
import type { Messenger } from "../messaging/messenger.js";
import { ChannelType, storeChannelId } from "../store/channel-id.js";
import type { ChannelStore, MessageLog } from "../store/message-store.js";
import { ForbiddenError, InvalidArgumentError, NotFoundError } from "../util/errors.js";
import { SYSTEM_UID, assertUid } from "../util/validate.js";
import { field, readObject } from "./body.js";
import { messageResp } from "./message-json.js";

/** Most subscribers in one add/remove call, and most messages in one messagesync. */
export const SUBSCRIBER_BATCH_LIMIT = 10_000;
export const MESSAGE_SYNC_LIMIT = 10_000;

function channelKey(body: Record<string, unknown>): { channelId: string; channelType: number } {
  const channelId = field.string(body, "channel_id");
  const channelType = field.int(body, "channel_type", 1, 255);
  return { channelId, channelType };
}

function groupKey(body: Record<string, unknown>) {
  const key = channelKey(body);
  if (key.channelType !== ChannelType.Group)
    throw new InvalidArgumentError("only group channels (channel_type 2) are managed here; person channels exist by themselves");
  return key;
}

function subscribers(body: Record<string, unknown>): string[] {
  if (body.subscribers === undefined || body.subscribers === null) return [];
  const uids = field.stringArray(body, "subscribers", SUBSCRIBER_BATCH_LIMIT);
  uids.forEach((u, i) => assertUid(u, `subscribers[${i}]`));
  return uids;
}

/** Groups, their members, and reading a channel's messages by seq (WuKongIM's channel endpoints). */
export function channelRoutes(store: ChannelStore & MessageLog, messenger: Messenger): Hono {
  const app = new Hono();
  const changed = (id: string, type: number) => messenger.channelChanged(id, type);

  const upsert = async (body: Record<string, unknown>, withSubscribers: boolean) => {
    const { channelId, channelType } = groupKey(body);
    await store.upsertChannel({
      channelId,
      channelType,
      ban: field.optionalBool(body, "ban"),
      disband: field.optionalBool(body, "disband"),
      sendBan: field.optionalBool(body, "send_ban"),
      large: field.optionalBool(body, "large"),
    });
    if (withSubscribers) {
      const uids = subscribers(body);
      const reset = field.optionalBool(body, "reset");
      if (uids.length > 0 || reset) await store.addSubscribers(channelId, channelType, uids, reset);
    }
    changed(channelId, channelType);
  };

  app.post("/channel", async (c) => {
    await upsert(await readObject(c), true);
    return c.json({ status: 200 });
  });
  app.post("/channel/info", async (c) => {
    await upsert(await readObject(c), false);
    return c.json({ status: 200 });
  });
  app.post("/channel/delete", async (c) => {
    const { channelId, channelType } = groupKey(await readObject(c));
    await store.deleteChannel(channelId, channelType);
    changed(channelId, channelType);
    return c.json({ status: 200 });
  });
  app.post("/channel/subscriber_add", async (c) => {
    const body = await readObject(c);
    const { channelId, channelType } = groupKey(body);
    if (!(await store.getChannel(channelId, channelType)))
      throw new NotFoundError(`group ${channelId} does not exist; create it with POST /channel`);
    await store.addSubscribers(channelId, channelType, subscribers(body), field.optionalBool(body, "reset"));
    changed(channelId, channelType);
    return c.json({ status: 200 });
  });
  app.post("/channel/subscriber_remove", async (c) => {
    const body = await readObject(c);
    const { channelId, channelType } = groupKey(body);
    await store.removeSubscribers(channelId, channelType, subscribers(body));
    changed(channelId, channelType);
    return c.json({ status: 200 });
  });

  /** Resolves the canonical channel a user reads, checking they may read it. */
  const readable = async (loginUid: string, channelId: string, channelType: number): Promise<string> => {
    assertUid(loginUid, "login_uid");
    // The system user is a valid peer to read from (its messages), though never a login.
    if (channelType === ChannelType.Person) {
      if (channelId !== SYSTEM_UID) assertUid(channelId, "channel_id");
    } else if (!(await store.isSubscriber(channelId, channelType, loginUid)))
      throw new ForbiddenError(`${loginUid} is not a member of ${channelId}`);
    return storeChannelId(loginUid, channelId, channelType);
  };

  app.post("/channel/messagesync", async (c) => {
    const body = await readObject(c);
    const loginUid = field.string(body, "login_uid");
    const { channelId, channelType } = channelKey(body);
    const stored = await readable(loginUid, channelId, channelType);
    const startSeq = field.optionalInt(body, "start_message_seq", 0);
    const endSeq = field.optionalInt(body, "end_message_seq", 0);
    const limit = field.optionalInt(body, "limit", 100, 1, MESSAGE_SYNC_LIMIT);
    const pullMode = field.optionalInt(body, "pull_mode", 0, 0, 1) as 0 | 1;
    const range = await store.getMessages({ channelId: stored, channelType, startSeq, endSeq, limit, pullMode });
    return c.json({
      start_message_seq: startSeq,
      end_message_seq: endSeq,
      more: range.more ? 1 : 0,
      messages: range.messages.map((m) => messageResp(m, loginUid)),
    });
  });

  app.get("/channel/max_message_seq", async (c) => {
    const channelId = c.req.query("channel_id") ?? "";
    const channelType = Number(c.req.query("channel_type"));
    if (!channelId || !Number.isInteger(channelType) || channelType < 1)
      throw new InvalidArgumentError("channel_id and channel_type are required");
    const loginUid = c.req.query("login_uid");
    const stored = loginUid === undefined ? channelId : await readable(loginUid, channelId, channelType);
    if (channelType === ChannelType.Person && loginUid === undefined)
      throw new InvalidArgumentError("login_uid is required for person channels");
    return c.json({ message_seq: await store.maxSeq(stored, channelType) });
  });

  return app;
}
