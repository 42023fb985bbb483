import { randomUUID } from "node:crypto";
import { Hono } from "hono";
import { type Messenger, SendRejectedError } from "../messaging/messenger.js";
import { ChannelType } from "../store/channel-id.js";
import { InvalidArgumentError } from "../util/errors.js";
import { SYSTEM_UID, assertUid } from "../util/validate.js";
import { field, readObject } from "./body.js";
import { parseHeader, parsePayload } from "./message-json.js";

/** Most receivers in one /message/sendbatch. */
export const SEND_BATCH_LIMIT = 1000;

/** Server-side sends (WuKongIM's /message/send and /message/sendbatch). */
export function messageRoutes(messenger: Messenger, maxPayloadBytes: number): Hono {
  const app = new Hono();

  app.post("/message/send", async (c) => {
    const body = await readObject(c);
    const header = parseHeader(body.header);
    const fromUid = field.optionalString(body, "from_uid") || SYSTEM_UID;
    if (fromUid !== SYSTEM_UID) assertUid(fromUid, "from_uid");
    const payload = parsePayload(body.payload, maxPayloadBytes);
    const clientMsgNo = field.optionalString(body, "client_msg_no") || randomUUID();
    const expire = field.optionalInt(body, "expire", 0, 0, 2 ** 32 - 1);
    const topic = field.optionalString(body, "topic");
    const hasSubscribers = Array.isArray(body.subscribers) && body.subscribers.length > 0;
    if (hasSubscribers) {
      if (body.channel_id) throw new InvalidArgumentError("give channel_id or subscribers, not both");
      const uids = field.stringArray(body, "subscribers", SEND_BATCH_LIMIT);
      uids.forEach((u, i) => assertUid(u, `subscribers[${i}]`));
      const sent = await Promise.all(
        uids.map((uid) =>
          messenger.send({
            fromUid,
            channelId: uid,
            channelType: ChannelType.Person,
            clientMsgNo: `${clientMsgNo}-${uid}`,
            header,
            setting: 0,
            expire,
            topic,
            payload,
          }),
        ),
      );
      return c.json({
        status: 200,
        data: {
          message_id: sent[0].result.messageId,
          message_idstr: String(sent[0].result.messageId),
          client_msg_no: clientMsgNo,
          message_seq: sent[0].result.messageSeq,
        },
      });
    }
    const channelId = field.string(body, "channel_id");
    const channelType = field.int(body, "channel_type", 1, 255);
    if (channelType === ChannelType.Person) assertUid(channelId, "channel_id");
    const { result } = await messenger.send({ fromUid, channelId, channelType, clientMsgNo, header, setting: 0, expire, topic, payload });
    return c.json({
      status: 200,
      data: {
        message_id: result.messageId,
        message_idstr: String(result.messageId),
        client_msg_no: clientMsgNo,
        message_seq: result.messageSeq,
      },
    });
  });

  app.post("/message/sendbatch", async (c) => {
    const body = await readObject(c);
    const header = parseHeader(body.header);
    const fromUid = field.optionalString(body, "from_uid") || SYSTEM_UID;
    if (fromUid !== SYSTEM_UID) assertUid(fromUid, "from_uid");
    const payload = parsePayload(body.payload, maxPayloadBytes);
    const uids = field.stringArray(body, "subscribers", SEND_BATCH_LIMIT);
    const batchNo = field.optionalString(body, "client_msg_no") || randomUUID();
    const failUids: string[] = [];
    const reasons: number[] = [];
    await Promise.all(
      uids.map(async (uid) => {
        try {
          // A bad uid is refused by the messenger with ChannelIDError, like any other refused send.
          await messenger.send({
            fromUid,
            channelId: uid,
            channelType: ChannelType.Person,
            clientMsgNo: `${batchNo}-${uid}`,
            header,
            setting: 0,
            expire: 0,
            topic: "",
            payload,
          });
        } catch (err) {
          failUids.push(uid);
          reasons.push(err instanceof SendRejectedError ? err.reasonCode : 15);
        }
      }),
    );
    return c.json({ status: 200, data: { fail_uids: failUids, reason: reasons } });
  });

  return app;
}
