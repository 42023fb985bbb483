import { randomUUID } from "node:crypto";
import { Hono } from "hono";
import type { Presence } from "../cluster/presence.js";
import type { Messenger } from "../messaging/messenger.js";
import { ChannelType } from "../store/channel-id.js";
import { InvalidArgumentError, PayloadTooLargeError } from "../util/errors.js";
import { SYSTEM_UID, assertUid } from "../util/validate.js";

/**
 * `POST /push/{uid}`: the request body, whatever it is, reaches the user on whichever
 * node holds them, as a message from the system. It is stored first, so an offline user gets it
 * on sync; `client_msg_no` (query) makes a retried push idempotent.
 */
export function pushRoutes(messenger: Messenger, presence: Presence, maxPayloadBytes: number): Hono {
  const app = new Hono();
  app.post("/push/:uid", async (c) => {
    const uid = c.req.param("uid");
    assertUid(uid);
    const payload = new Uint8Array(await c.req.arrayBuffer());
    if (payload.byteLength === 0) throw new InvalidArgumentError("the request body is the message: it must not be empty");
    if (payload.byteLength > maxPayloadBytes) throw new PayloadTooLargeError(`message is larger than ${maxPayloadBytes} bytes`);
    const clientMsgNo = c.req.query("client_msg_no") || randomUUID();
    const { result } = await messenger.send({
      fromUid: SYSTEM_UID,
      channelId: uid,
      channelType: ChannelType.Person,
      clientMsgNo,
      header: { noPersist: false, redDot: true, syncOnce: false },
      setting: 0,
      expire: 0,
      topic: "",
      payload,
    });
    const devices = (await presence.lookup([uid])).get(uid)?.length ?? 0;
    return c.json({
      status: 200,
      data: {
        message_id: result.messageId,
        message_idstr: String(result.messageId),
        message_seq: result.messageSeq,
        client_msg_no: clientMsgNo,
        online_devices: devices,
      },
    });
  });
  return app;
}
