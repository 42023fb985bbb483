/**
 * Catching up over the router API after a (re)connect: conversations that moved, then each
 * channel's messages after the last seq this client saw. Authenticated as the user with its
 * connect token (`Authorization: User uid:device:token`), so no server key is needed.
 */
import { fromBase64 } from "./client-crypto.js";

export interface SyncedMessage {
  messageId: number;
  messageSeq: number;
  clientMsgNo: string;
  fromUid: string;
  /** As this user sees it: the peer's uid for person channels. */
  channelId: string;
  channelType: number;
  timestamp: number;
  payload: Uint8Array;
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

export interface SyncApi {
  apiUrl: string;
  uid: string;
  deviceFlag: number;
  token: string;
  fetch?: typeof fetch;
}

async function post<T>(api: SyncApi, path: string, body: unknown): Promise<T> {
  const res = await (api.fetch ?? fetch)(`${api.apiUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `User ${encodeURIComponent(api.uid)}:${api.deviceFlag}:${api.token}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path} answered ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

const fromResp = (m: MessageResp): SyncedMessage => ({
  messageId: m.message_id,
  messageSeq: m.message_seq,
  clientMsgNo: m.client_msg_no,
  fromUid: m.from_uid,
  channelId: m.channel_id,
  channelType: m.channel_type,
  timestamp: m.timestamp,
  payload: fromBase64(m.payload),
});

/**
 * Messages this user missed, oldest first per channel. `lastSeen` maps "type:channelId" to the
 * last seq already shown; channels never seen start `initialLimit` messages back.
 */
export async function syncMissed(api: SyncApi, lastSeen: ReadonlyMap<string, number>, initialLimit: number): Promise<SyncedMessage[]> {
  const conversations = await post<{ channel_id: string; channel_type: number; last_msg_seq: number }[]>(api, "/conversation/sync", {
    uid: api.uid,
    version: 0,
    msg_count: 0,
  });
  const out: SyncedMessage[] = [];
  for (const conv of conversations) {
    const key = `${conv.channel_type}:${conv.channel_id}`;
    let after = lastSeen.get(key) ?? Math.max(0, conv.last_msg_seq - initialLimit);
    while (after < conv.last_msg_seq) {
      const page = await post<{ more: number; messages: MessageResp[] }>(api, "/channel/messagesync", {
        login_uid: api.uid,
        channel_id: conv.channel_id,
        channel_type: conv.channel_type,
        start_message_seq: after + 1,
        end_message_seq: 0,
        limit: 100,
        pull_mode: 1,
      });
      const fresh = page.messages.filter((m) => m.message_seq > after).sort((a, b) => a.message_seq - b.message_seq);
      if (fresh.length === 0) break;
      out.push(...fresh.map(fromResp));
      after = fresh[fresh.length - 1].message_seq;
    }
  }
  return out;
}
