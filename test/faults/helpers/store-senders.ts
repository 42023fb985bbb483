/**
 * Senders for the store-outage scenarios, each keeping a ledger of what it was told: HTTP loops
 * posting /message/send, and a user of the real wukongimjssdk. Both retry a send that was not
 * acknowledged with the same client_msg_no (the SDK user re-sends its very SEND packet, as the SDK
 * itself does after a reconnect), so a send that was stored but whose answer was lost is found,
 * not stored again. Every error answer's latency is kept: during an outage it must stay bounded.
 */
import assert from "node:assert/strict";
import type { ApiClient } from "../../helpers/server.js";
import { sleep } from "../../helpers/wait.js";
import type { SdkLoader, SdkModule } from "../../helpers/wk-sdk.js";
import { percentile } from "./report.js";

/** A send the server acknowledged: what it said it stored. */
export interface Acked {
  from: string;
  to: string;
  clientMsgNo: string;
  messageId: string;
  messageSeq: number;
}

export interface Ledger {
  acked: Acked[];
  /** Milliseconds from each send (attempt) to its error answer. */
  errorMs: number[];
  /** Error answers by kind ("503 store_unavailable", "SENDACK 15", "network"). */
  errors: Map<string, number>;
  /** Sends given up on after their attempts ran out (never acknowledged). */
  abandoned: number;
}

export function newLedger(): Ledger {
  return { acked: [], errorMs: [], errors: new Map(), abandoned: 0 };
}

function countError(l: Ledger, kind: string, ms: number): void {
  l.errors.set(kind, (l.errors.get(kind) ?? 0) + 1);
  l.errorMs.push(ms);
}

export interface HttpSendersOptions {
  /** The API to use for the i-th sender (alternating nodes). */
  api: (i: number) => ApiClient;
  count: number;
  prefix: string;
  /** Pause between one sender's sends. */
  gapMs: number;
  /** Pause before retrying a failed send (same client_msg_no). */
  retryMs: number;
  /** Attempts per send before it is abandoned. */
  maxAttempts: number;
  /** Pad each payload to about this many bytes (default: just the text). */
  payloadBytes?: number;
  stopped: () => boolean;
}

/** `count` loops, each sending to its own peer until stopped; resolves when all have finished. */
export async function runHttpSenders(o: HttpSendersOptions, ledger: Ledger): Promise<void> {
  await Promise.all(
    Array.from({ length: o.count }, async (_, i) => {
      const from = `${o.prefix}h${i}`;
      const to = `${o.prefix}r${i}`;
      for (let n = 0; !o.stopped(); n++) {
        const clientMsgNo = `${from}-${n}`;
        const text = `${from} ${n} `.padEnd(o.payloadBytes ?? 0, "x");
        const body = { from_uid: from, channel_id: to, channel_type: 1, client_msg_no: clientMsgNo, payload: btoa(text) };
        for (let attempt = 1; ; attempt++) {
          const t0 = Date.now();
          let status = 0;
          let answer: { error?: string; data?: { message_idstr: string; message_seq: number } } = {};
          try {
            const res = await o.api(i + attempt).post("/message/send", body);
            status = res.status;
            answer = res.body;
          } catch {
            status = -1;
          }
          if (status === 200 && answer.data) {
            ledger.acked.push({ from, to, clientMsgNo, messageId: answer.data.message_idstr, messageSeq: answer.data.message_seq });
            break;
          }
          countError(ledger, status === -1 ? "network" : `${status} ${answer.error ?? ""}`.trim(), Date.now() - t0);
          if (attempt >= o.maxAttempts) {
            ledger.abandoned++;
            break;
          }
          await sleep(o.retryMs);
        }
        await sleep(o.gapMs);
      }
    }),
  );
}

/** The parts of the SDK this sender drives beyond the typed slice (all public members of the SDK). */
interface SdkInternals {
  chatManager: {
    getSendPacket(content: object, channel: object): { clientSeq: number; clientMsgNo: string };
    sendingQueues: Map<number, unknown>;
    addMessageStatusListener(l: (ack: { clientSeq: number; messageID: string; messageSeq: number; reasonCode: number }) => void): void;
  };
  connectManager: { status: number; sendPacket(p: unknown): void; addConnectStatusListener(l: (s: number) => void): void };
}

export interface SdkSenderOptions {
  loader: SdkLoader;
  uid: string;
  token: string;
  to: string;
  addr: () => string;
  gapMs: number;
  retryMs: number;
  maxAttempts: number;
  /** Longest wait for one SENDACK before the attempt counts as unanswered. */
  ackTimeoutMs: number;
  stopped: () => boolean;
}

/**
 * One SDK user sending text to `to` until stopped. A SENDACK that is not Success (or none within
 * ackTimeoutMs) sends the same packet again: same clientSeq, same clientMsgNo.
 */
export interface SdkSender {
  /** Resolves when the loop has stopped (after `stopped()` turns true and the last send settled). */
  done: Promise<void>;
  /** Disconnects the SDK once the loop is done. */
  close(): Promise<void>;
}

export async function runSdkSender(o: SdkSenderOptions, ledger: Ledger): Promise<SdkSender> {
  const sdk: SdkModule = await o.loader.load();
  const wk = sdk.WKSDK.shared();
  const raw = wk as unknown as SdkInternals;
  wk.config.uid = o.uid;
  wk.config.token = o.token;
  (wk.config as unknown as { provider: { connectAddrCallback: (cb: (a: string) => void) => void } }).provider.connectAddrCallback = (cb) =>
    cb(o.addr());
  const acks = new Map<number, (ack: { messageID: string; messageSeq: number; reasonCode: number }) => void>();
  raw.chatManager.addMessageStatusListener((ack) => acks.get(ack.clientSeq)?.(ack));
  let wakeConnected: (() => void) | undefined;
  raw.connectManager.addConnectStatusListener((s) => {
    if (s === sdk.ConnectStatus.Connected) wakeConnected?.();
  });
  wk.connect();
  const connected = () =>
    raw.connectManager.status === sdk.ConnectStatus.Connected
      ? Promise.resolve()
      : new Promise<void>((r) => {
          wakeConnected = r;
          setTimeout(r, 1_000);
        });
  await connected();
  const channel = new sdk.Channel(o.to, 1);
  const done = (async () => {
    for (let n = 0; !o.stopped(); n++) {
      const packet = raw.chatManager.getSendPacket(new sdk.MessageText(`${o.uid} ${n}`), channel);
      for (let attempt = 1; ; attempt++) {
        await connected();
        const t0 = Date.now();
        const ack = await new Promise<{ messageID: string; messageSeq: number; reasonCode: number } | undefined>((resolve) => {
          const timer = setTimeout(() => resolve(undefined), o.ackTimeoutMs);
          acks.set(packet.clientSeq, (a) => {
            clearTimeout(timer);
            resolve(a);
          });
          raw.chatManager.sendingQueues.set(packet.clientSeq, packet);
          raw.connectManager.sendPacket(packet);
        });
        acks.delete(packet.clientSeq);
        if (ack?.reasonCode === 1) {
          ledger.acked.push({
            from: o.uid,
            to: o.to,
            clientMsgNo: packet.clientMsgNo,
            messageId: String(ack.messageID),
            messageSeq: ack.messageSeq,
          });
          break;
        }
        countError(ledger, ack ? `SENDACK ${ack.reasonCode}` : "no SENDACK", Date.now() - t0);
        if (attempt >= o.maxAttempts) {
          ledger.abandoned++;
          break;
        }
        await sleep(o.retryMs);
      }
      await sleep(o.gapMs);
    }
  })();
  return {
    done,
    async close() {
      await done;
      wk.disconnect();
      clearInterval(wk.receiptManager.timer);
    },
  };
}

/** What a sync of every conversation the senders used shows, against their ledger. */
export interface LedgerCheck {
  /** Acknowledged sends missing from the store, or stored with other ids. */
  lost: string[];
  /** client_msg_nos stored more than once. */
  twice: string[];
  /** Channels whose seqs are not exactly 1..n. */
  seqProblems: string[];
  stored: number;
}

/** Reads every (from, to) conversation back through /channel/messagesync and checks the ledger. */
export async function checkLedger(api: ApiClient, ledger: Ledger): Promise<LedgerCheck> {
  const byPair = new Map<string, Acked[]>();
  for (const a of ledger.acked) {
    const key = `${a.from}\u0000${a.to}`;
    byPair.set(key, [...(byPair.get(key) ?? []), a]);
  }
  const out: LedgerCheck = { lost: [], twice: [], seqProblems: [], stored: 0 };
  for (const [key, acked] of byPair) {
    const [from, to] = key.split("\u0000");
    const res = await api.post("/channel/messagesync", {
      login_uid: from,
      channel_id: to,
      channel_type: 1,
      start_message_seq: 0,
      limit: 10_000,
      pull_mode: 1,
    });
    if (res.status !== 200) throw new Error(`messagesync ${from} -> ${to}: ${res.status} ${JSON.stringify(res.body)}`);
    const messages = res.body.messages as { message_idstr: string; message_seq: number; client_msg_no: string }[];
    out.stored += messages.length;
    const seen = new Map<string, { id: string; seq: number }>();
    messages.forEach((m, i) => {
      if (m.message_seq !== i + 1) out.seqProblems.push(`${from}->${to}: position ${i + 1} has seq ${m.message_seq}`);
      if (seen.has(m.client_msg_no)) out.twice.push(m.client_msg_no);
      seen.set(m.client_msg_no, { id: m.message_idstr, seq: m.message_seq });
    });
    for (const a of acked) {
      const s = seen.get(a.clientMsgNo);
      if (!s || s.id !== a.messageId || s.seq !== a.messageSeq) out.lost.push(`${a.clientMsgNo} (acked ${a.messageId}/${a.messageSeq})`);
    }
  }
  return out;
}

/**
 * What every store-outage scenario must show at the end: nothing acknowledged lost, nothing
 * stored twice, gap-free seqs, every send acknowledged in the end, error answers felt and bounded.
 */
export function assertLedgerHeld(ledger: Ledger, check: LedgerCheck, errorBoundMs: number): void {
  assert.deepEqual(check.lost, [], "every acknowledged send is stored with the ids it was acknowledged with");
  assert.deepEqual(check.twice, [], "no send stored twice");
  assert.deepEqual(check.seqProblems, [], "every conversation's seqs run 1..n");
  assert.equal(ledger.abandoned, 0, "every send was acknowledged in the end (retried with the same client_msg_no)");
  assert.ok(ledger.errorMs.length > 0, "the outage was felt by the senders");
  const slowest = Math.max(...ledger.errorMs);
  assert.ok(slowest <= errorBoundMs, `every error answered within ${errorBoundMs} ms (slowest ${slowest} ms)`);
}

/** The figures every store-outage scenario reports. */
export function ledgerFigures(ledger: Ledger, check: LedgerCheck): Record<string, number | string> {
  return {
    acked: ledger.acked.length,
    stored: check.stored,
    lost: check.lost.length,
    stored_twice: check.twice.length,
    seq_problems: check.seqProblems.length,
    abandoned: ledger.abandoned,
    error_answers: ledger.errorMs.length,
    error_ms_p50: percentile(ledger.errorMs, 50),
    error_ms_p99: percentile(ledger.errorMs, 99),
    error_ms_max: Math.max(0, ...ledger.errorMs),
    errors: JSON.stringify(Object.fromEntries(ledger.errors)),
  };
}
