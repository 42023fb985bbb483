import { Hono } from "hono";
import { storeChannelId, viewChannelId } from "../store/channel-id.js";
import type { ConversationStore } from "../store/message-store.js";
import { InvalidArgumentError } from "../util/errors.js";
import { assertUid } from "../util/validate.js";
import { field, readObject } from "./body.js";
import { messageResp } from "./message-json.js";

export const CONVERSATION_SYNC_LIMIT = 500;

/** "cid:ctype:seq|cid:ctype:seq" as the client sees channels -> the store's canonical keys. */
export function parseLastMsgSeqs(uid: string, value: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!value) return out;
  for (const part of value.split("|")) {
    const pieces = part.split(":");
    if (pieces.length !== 3)
      throw new InvalidArgumentError(`last_msg_seqs entry ${JSON.stringify(part)} is not channel_id:channel_type:seq`);
    const [cid, ctype, seq] = pieces;
    const type = Number(ctype);
    const n = Number(seq);
    if (!cid || !Number.isInteger(type) || !Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`last_msg_seqs entry ${JSON.stringify(part)} is malformed`);
    out.set(`${storeChannelId(uid, cid, type)}:${type}`, n);
  }
  return out;
}

function target(body: Record<string, unknown>) {
  const uid = field.string(body, "uid");
  assertUid(uid);
  const channelId = field.string(body, "channel_id");
  const channelType = field.int(body, "channel_type", 1, 255);
  return { uid, channelType, channelId: storeChannelId(uid, channelId, channelType) };
}

/** A user's recent conversations with unread counts, and moving their read position. */
export function conversationRoutes(store: ConversationStore): Hono {
  const app = new Hono();

  app.post("/conversation/sync", async (c) => {
    const body = await readObject(c);
    const uid = field.string(body, "uid");
    assertUid(uid);
    const excluded = body.exclude_channel_types;
    if (excluded !== undefined && excluded !== null && (!Array.isArray(excluded) || excluded.some((t) => !Number.isInteger(t)))) {
      throw new InvalidArgumentError("exclude_channel_types must be an array of whole numbers");
    }
    const conversations = await store.syncConversations({
      uid,
      version: field.optionalInt(body, "version", 0),
      msgCount: field.optionalInt(body, "msg_count", 1, 0, 100),
      lastMsgSeqs: parseLastMsgSeqs(uid, field.optionalString(body, "last_msg_seqs")),
      onlyUnread: field.optionalBool(body, "only_unread"),
      excludeChannelTypes: (excluded as number[] | undefined) ?? [],
      limit: field.optionalInt(body, "limit", CONVERSATION_SYNC_LIMIT, 1, CONVERSATION_SYNC_LIMIT),
    });
    return c.json(
      conversations.map((v) => ({
        channel_id: viewChannelId(uid, v.channelId, v.channelType),
        channel_type: v.channelType,
        unread: v.unread,
        timestamp: v.timestamp,
        last_msg_seq: v.lastMsgSeq,
        last_client_msg_no: v.lastClientMsgNo,
        offset_msg_seq: 0,
        readed_to_msg_seq: v.readedToMsgSeq,
        version: v.version,
        recents: v.recents.map((m) => messageResp(m, uid)),
      })),
    );
  });

  app.post("/conversations/clearUnread", async (c) => {
    const body = await readObject(c);
    const t = target(body);
    await store.clearUnread(t.uid, t.channelId, t.channelType, field.optionalInt(body, "message_seq", 0));
    return c.json({ status: 200 });
  });
  app.post("/conversations/setUnread", async (c) => {
    const body = await readObject(c);
    const t = target(body);
    await store.setUnread(t.uid, t.channelId, t.channelType, field.int(body, "unread", 0));
    return c.json({ status: 200 });
  });
  app.post("/conversations/delete", async (c) => {
    const t = target(await readObject(c));
    await store.deleteConversation(t.uid, t.channelId, t.channelType);
    return c.json({ status: 200 });
  });

  return app;
}
