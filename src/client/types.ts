/** The SDK's public data shapes and its events. */

/** A message as the wire (RECV) or the sync API carries it, payload decrypted. */
export interface InboundMessage {
  messageId: number;
  /** Position in its channel; 0 for messages sent with noPersist (not stored). */
  messageSeq: number;
  clientMsgNo: string;
  fromUid: string;
  /** As this user sees it: the peer's uid for person channels. */
  channelId: string;
  channelType: number;
  /** Unix seconds. */
  timestamp: number;
  payload: Uint8Array;
}

export interface ClientMessage extends InboundMessage {
  /** The payload as UTF-8 text. */
  text: string;
  /** Came from an HTTP sync (after a reconnect, or to fill a gap) rather than live. */
  synced: boolean;
}

export interface SendOptions {
  /** Idempotency key; a random one by default. Sending again with the same one returns the first result. */
  clientMsgNo?: string;
  /** Deliver to whoever is online, store nothing (messageSeq comes back 0). */
  noPersist?: boolean;
  /** Counts as unread for the receivers. Default true. */
  redDot?: boolean;
}

export interface SendResult {
  clientMsgNo: string;
  messageId: number;
  messageSeq: number;
  /** Always ReasonCode.Success (1): any other code rejects with a SendError. */
  reasonCode: number;
}

export type ClientState = "idle" | "connecting" | "connected" | "closed";

export type ClientEvents = {
  /** CONNACK succeeded. `nodeId` is the node's number from CONNACK (0 if the server sent none). */
  connected: [{ addr: string; nodeId: number }];
  /** Every message once (live or synced), de-duplicated by messageId; in seq order per channel except gap repairs. */
  message: [ClientMessage];
  /** A SEND was stored (the promise of send() resolves with the same value). */
  ack: [SendResult];
  /**
   * An established connection ended, or the server refused one (then `reasonCode` is set). With
   * willReconnect false the client is closed.
   */
  disconnected: [{ reason: string; reasonCode?: number; willReconnect: boolean }];
  /** The next connection attempt is scheduled `delayMs` from now; `reason` is why the last one ended. */
  reconnecting: [{ attempt: number; delayMs: number; reason: string }];
  /** Something the app may want to know that did not stop the client: a refusal, a failed sync, a bad RECV. */
  error: [Error];
};
