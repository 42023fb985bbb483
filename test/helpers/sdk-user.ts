/**
 * One user of the real wukongimjssdk, connected to a Switchboard: its own SDK copy, what it
 * received, and waits with timeouts (no sleeps). The SDK asks `addr()` for the address on every
 * (re)connect, as an app wires `provider.connectAddrCallback` to the route API for failover.
 */
import { Waiters } from "./wait.js";
import type { SdkLoader, SdkMessage, SdkModule } from "./wk-sdk.js";

export interface SdkUserOptions {
  uid: string;
  token: string;
  /** Where to connect, asked again on every reconnect. */
  addr: () => Promise<string> | string;
  deviceFlag?: number;
}

export interface SdkUser {
  uid: string;
  sdk: SdkModule;
  /** Messages from others, in arrival order. */
  received: SdkMessage[];
  /** Connect statuses seen (ConnectStatus numbers) with their reason codes. */
  statuses: [number, number][];
  waitConnected(timeoutMs?: number): Promise<void>;
  /** Resolves when `count` messages from others have arrived. */
  waitReceived(count: number, timeoutMs?: number): Promise<SdkMessage[]>;
  /** Send text; resolves with the SENDACK. */
  sendText(
    text: string,
    channelId: string,
    channelType: number,
    timeoutMs?: number,
  ): Promise<{ messageID: string; messageSeq: number; reasonCode: number }>;
  close(): void;
}

export async function connectSdkUser(loader: SdkLoader, o: SdkUserOptions): Promise<SdkUser> {
  const sdk = await loader.load();
  const wk = sdk.WKSDK.shared();
  wk.config.uid = o.uid;
  wk.config.token = o.token;
  if (o.deviceFlag !== undefined) wk.config.deviceFlag = o.deviceFlag;
  (wk.config as { provider?: { connectAddrCallback?: unknown } }).provider!.connectAddrCallback = (cb: (addr: string) => void) => {
    Promise.resolve(o.addr()).then(cb, () => cb("ws://127.0.0.1:1"));
  };
  const received: SdkMessage[] = [];
  const statuses: [number, number][] = [];
  const acks = new Map<number, { messageID: string; messageSeq: number; reasonCode: number }>();
  const waiters = new Waiters();
  wk.connectManager.addConnectStatusListener((status, reason) => {
    statuses.push([status, reason]);
    waiters.wake();
  });
  wk.chatManager.addMessageListener((m) => {
    // The SDK also reports its own outgoing messages here; keep what others sent.
    if (m.fromUID === o.uid) return;
    received.push(m);
    waiters.wake();
  });
  wk.chatManager.addMessageStatusListener((ack) => {
    acks.set(ack.clientSeq, { messageID: String(ack.messageID), messageSeq: ack.messageSeq, reasonCode: ack.reasonCode });
    waiters.wake();
  });
  const wait = <T>(what: string, timeoutMs: number, check: () => T | undefined) => waiters.waitFor(what, check, timeoutMs);
  wk.connect();
  const user: SdkUser = {
    uid: o.uid,
    sdk,
    received,
    statuses,
    waitConnected: (timeoutMs = 10_000) =>
      wait(`${o.uid} to connect`, timeoutMs, () => (wk.connectManager.status === sdk.ConnectStatus.Connected ? true : undefined)).then(
        () => {},
      ),
    waitReceived: (count, timeoutMs = 10_000) =>
      wait(`${o.uid} to receive ${count} messages (has ${received.length})`, timeoutMs, () =>
        received.length >= count ? received.slice(0, count) : undefined,
      ),
    async sendText(text, channelId, channelType, timeoutMs = 10_000) {
      const message = (await wk.chatManager.send(new sdk.MessageText(text), new sdk.Channel(channelId, channelType))) as unknown as {
        clientSeq: number;
      };
      return wait(`SENDACK for ${o.uid}'s message`, timeoutMs, () => acks.get(message.clientSeq));
    },
    close() {
      wk.disconnect();
      clearInterval(wk.receiptManager.timer);
    },
  };
  return user;
}
