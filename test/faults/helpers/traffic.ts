/**
 * Chat traffic that counts itself: P senders each talking 1:1 to their own receiver, and a group
 * whose members all send to it. Every client reconnects (route API, full jitter) and syncs its
 * channels after each reconnect; at the end every receiver syncs once more, then `tally()` compares
 * what was acknowledged with what each receiver's application shows.
 */
import type { ApiClient } from "../../helpers/server.js";
import { sleep } from "../../helpers/wait.js";
import { type Backoff, CountingClient, type SendResult, channelKey } from "../../helpers/wk/counting-client.js";

export interface TrafficPlan {
  /** A prefix for uids and the group id, unique per scenario. */
  prefix: string;
  pairs: number;
  groupSize: number;
  /** Messages each sender (1:1 senders and group members) sends. */
  perSender: number;
  /** Pause between one sender's messages. */
  gapMs: number;
  backoff: Backoff;
}

export interface TrafficEnv {
  /** A router API that answers now (a live process). */
  api(): Promise<ApiClient>;
  /** The TCP address of user number `i` (in creation order) for its first connection. */
  firstAddr(uid: string, i: number): string;
  /** Where a reconnect goes (the route API of a live process). */
  route(uid: string): Promise<string>;
}

interface Sent {
  from: string;
  /** Receivers that must show it. */
  to: string[];
  channelType: number;
  result: SendResult;
}

export class Traffic {
  readonly senders: CountingClient[] = [];
  readonly receivers: CountingClient[] = [];
  readonly members: CountingClient[] = [];
  readonly all: CountingClient[] = [];
  readonly groupId: string;
  readonly sent: Sent[] = [];
  readonly failures: string[] = [];
  attempted = 0;
  private readonly peerOf = new Map<string, string>();
  private firstConnects = new Set<string>();

  constructor(
    readonly plan: TrafficPlan,
    readonly env: TrafficEnv,
  ) {
    this.groupId = `${plan.prefix}-group`;
  }

  get total(): number {
    return (this.plan.pairs + this.plan.groupSize) * this.plan.perSender;
  }

  get acked(): number {
    return this.sent.length;
  }

  /** The channels a user reads: its 1:1 peer and, for members, the group. */
  private channelsOf(c: CountingClient): [string, number][] {
    const out: [string, number][] = [];
    const peer = this.peerOf.get(c.uid);
    if (peer) out.push([peer, 1]);
    if (this.members.includes(c)) out.push([this.groupId, 2]);
    return out;
  }

  async syncAll(c: CountingClient): Promise<void> {
    const api = await this.env.api();
    for (const [id, type] of this.channelsOf(c)) await c.sync(api, id, type);
  }

  async setup(): Promise<void> {
    const p = this.plan;
    const api = await this.env.api();
    const uids: string[] = [];
    const roles = new Map<string, CountingClient[]>();
    for (let i = 0; i < p.pairs; i++) {
      const s = `${p.prefix}-s${i}`;
      const r = `${p.prefix}-r${i}`;
      this.peerOf.set(s, r);
      this.peerOf.set(r, s);
      uids.push(s, r);
      roles.set(s, this.senders);
      roles.set(r, this.receivers);
    }
    const memberUids = Array.from({ length: p.groupSize }, (_, j) => `${p.prefix}-m${j}`);
    uids.push(...memberUids);
    for (const m of memberUids) roles.set(m, this.members);
    for (const uid of uids) {
      const res = await api.post("/user/token", { uid, token: `tok-${uid}`, device_flag: 0 });
      if (res.status !== 200) throw new Error(`/user/token ${uid}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    if (p.groupSize > 0) {
      const res = await api.post("/channel", { channel_id: this.groupId, channel_type: 2, subscribers: memberUids });
      if (res.status !== 200) throw new Error(`/channel: ${res.status} ${JSON.stringify(res.body)}`);
    }
    uids.forEach((uid, i) => {
      const client = new CountingClient({
        uid,
        token: `tok-${uid}`,
        addr: () => {
          if (this.firstConnects.has(uid)) return this.env.route(uid);
          this.firstConnects.add(uid);
          return this.env.firstAddr(uid, i);
        },
        reconnect: p.backoff,
        // What an app does after every reconnect: pull what it missed.
        onConnected: (c) => (c.stats.connects > 1 ? this.syncAll(c) : undefined),
      });
      this.all.push(client);
      roles.get(uid)!.push(client);
    });
    await Promise.all(this.all.map((c) => c.start()));
  }

  /** Every sender sends perSender messages, one after another; `onAck` runs after each SENDACK. */
  async run(onAck?: () => void): Promise<void> {
    const p = this.plan;
    const loop = async (c: CountingClient, channelId: string, channelType: number, to: string[]) => {
      for (let k = 1; k <= p.perSender; k++) {
        this.attempted++;
        try {
          const result = await c.send(channelId, channelType, `${c.uid} #${k}`, { timeoutMs: 45_000 });
          if (result.reasonCode !== 1) this.failures.push(`${c.uid} #${k}: SENDACK reason ${result.reasonCode}`);
          else this.sent.push({ from: c.uid, to, channelType, result });
        } catch (err) {
          this.failures.push(`${c.uid} #${k}: ${(err as Error).message}`);
        }
        onAck?.();
        await sleep(p.gapMs * (0.5 + Math.random()));
      }
    };
    const memberUids = this.members.map((m) => m.uid);
    await Promise.all([
      ...this.senders.map((s) => loop(s, this.peerOf.get(s.uid)!, 1, [this.peerOf.get(s.uid)!])),
      ...this.members.map((m) => loop(m, this.groupId, 2, memberUids)),
    ]);
  }

  /** Every client connected again (bounded). */
  async allConnected(timeoutMs: number): Promise<void> {
    await Promise.all(this.all.map((c) => c.waitFor("reconnected and synced", () => c.isReady || c.gaveUp, timeoutMs)));
    const down = this.all.filter((c) => !c.isOpen).map((c) => `${c.uid} (${c.lastError?.message})`);
    if (down.length > 0) throw new Error(`clients still down: ${down.join(", ")}`);
  }

  async finalSync(): Promise<void> {
    for (const c of [...this.receivers, ...this.members]) await this.syncAll(c);
  }

  /**
   * What was acknowledged against what the applications show. `lost` lists acknowledged messages
   * a receiver does not show after its sync.
   */
  tally() {
    const byUid = new Map(this.all.map((c) => [c.uid, c]));
    const lost: string[] = [];
    let expected = 0;
    let live = 0;
    let synced = 0;
    for (const s of this.sent) {
      for (const uid of s.to) {
        if (uid === s.from) continue;
        expected++;
        const shown = byUid.get(uid)!.shown.get(s.result.messageId);
        if (!shown) lost.push(`${s.from} -> ${uid}: ${s.result.clientMsgNo} (id ${s.result.messageId}, seq ${s.result.messageSeq})`);
        else if (shown.via === "recv") live++;
        else synced++;
      }
    }
    // Seqs per channel as acknowledged: stored once each, no holes.
    const seqProblems: string[] = [];
    const byChannel = new Map<string, number[]>();
    for (const s of this.sent) {
      const key = s.channelType === 2 ? channelKey(2, this.groupId) : `${s.from}>${s.to[0]}`;
      byChannel.set(key, [...(byChannel.get(key) ?? []), s.result.messageSeq]);
    }
    for (const [key, seqs] of byChannel) {
      seqs.sort((a, b) => a - b);
      if (seqs.some((q, i) => q !== i + 1)) seqProblems.push(`${key}: acknowledged seqs ${seqs.join(",")}`);
    }
    const sum = (f: (c: CountingClient) => number) => this.all.reduce((n, c) => n + f(c), 0);
    return {
      lost,
      seqProblems,
      figures: {
        sent: this.attempted,
        acked: this.acked,
        send_failures: this.failures.length,
        send_retries: sum((c) => c.stats.sendRetries),
        deliveries_expected: expected,
        received_live: live,
        received_by_sync: synced,
        lost: lost.length,
        server_dup_recvs: sum((c) => c.stats.recvDuplicates),
        sync_overlap: sum((c) => c.stats.syncedOverlap),
        app_duplicates: sum((c) => c.appDuplicates()),
        reconnects: sum((c) => Math.max(0, c.stats.connects - 1)),
        connect_failures: sum((c) => c.stats.connectFailures),
      },
    };
  }

  closeAll(): void {
    for (const c of this.all) c.close();
  }
}
