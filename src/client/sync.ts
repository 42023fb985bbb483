/**
 * Catching up over the router API: the user's conversations (POST /conversation/sync), then each
 * channel's messages after the last seq this client has (POST /channel/messagesync, pulling
 * up). Authenticated as the user with its connect token (`Authorization: User uid:device:token`),
 * so no server key is needed.
 */
import { fromBase64 } from "./client-crypto.js";
import { type ChannelCatchUp, channelKey } from "./inbox.js";

/** POSTs JSON to the router and returns the parsed answer; throws on non-2xx. */
export type PostJson = <T>(path: string, body: unknown) => Promise<T>;

/** Messages per /channel/messagesync page. */
export const SYNC_PAGE = 200;

interface ConversationResp {
  channel_id: string;
  channel_type: number;
  last_msg_seq: number;
}

interface MessageResp {
  message_id: number;
  message_seq: number;
  client_msg_no: string;
  from_uid: string;
  channel_id: string;
  channel_type: number;
  timestamp: number;
  payload: string;
}

/**
 * Offers every channel's missed messages to `onChannel`, oldest first, one channel at a time.
 * `marks` maps "type:channelId" to the last seq already handled; channels without a mark start
 * `initialLimit` messages back from their newest.
 */
export async function syncMissed(
  post: PostJson,
  uid: string,
  marks: ReadonlyMap<string, number>,
  initialLimit: number,
  onChannel: (c: ChannelCatchUp) => void,
): Promise<void> {
  const conversations = await post<ConversationResp[]>("/conversation/sync", { uid, version: 0, msg_count: 0 });
  for (const conv of conversations) {
    const lastSeq = conv.last_msg_seq;
    let after = marks.get(channelKey(conv.channel_type, conv.channel_id)) ?? Math.max(0, lastSeq - initialLimit);
    if (after >= lastSeq) continue;
    const messages: ChannelCatchUp["messages"] = [];
    while (after < lastSeq) {
      const page = await post<{ more: number; messages: MessageResp[] }>("/channel/messagesync", {
        login_uid: uid,
        channel_id: conv.channel_id,
        channel_type: conv.channel_type,
        start_message_seq: after + 1,
        end_message_seq: 0,
        limit: SYNC_PAGE,
        pull_mode: 1,
      });
      const fresh = page.messages.filter((m) => m.message_seq > after).sort((a, b) => a.message_seq - b.message_seq);
      if (fresh.length === 0) break;
      for (const m of fresh) {
        messages.push({
          messageId: m.message_id,
          messageSeq: m.message_seq,
          clientMsgNo: m.client_msg_no,
          fromUid: m.from_uid,
          channelId: m.channel_id,
          channelType: m.channel_type,
          timestamp: m.timestamp,
          payload: fromBase64(m.payload),
        });
      }
      after = fresh[fresh.length - 1].message_seq;
    }
    onChannel({ channelId: conv.channel_id, channelType: conv.channel_type, lastSeq, messages });
  }
}
