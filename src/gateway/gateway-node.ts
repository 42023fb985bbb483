import type { MessageBus } from "../cluster/message-bus.js";
import type { NodeInfo, NodeRegistry } from "../cluster/node-registry.js";
import type { Presence, PresenceBinding } from "../cluster/presence.js";
import type { KickTarget, LocalNode, Messenger } from "../messaging/messenger.js";
import type { SwitchboardMetrics } from "../metrics/metrics.js";
import { ReasonCode } from "../protocol/constants.js";
import type { StoredMessage, TokenStore } from "../store/message-store.js";
import type { Logger } from "../util/logger.js";
import { LocalSessions } from "./local-sessions.js";
import { Session, type SessionLimits } from "./session.js";
import { listenTcp } from "./transport-tcp.js";
import { listenWs, listenWss } from "./transport-ws.js";
import type { Connection, Listener } from "./transport.js";

/** How often a node re-announces itself (with its load) to the registry. */
export const NODE_HEARTBEAT_MS = 2_000;
/** A node not heard from for this long is considered dead. */
export const NODE_TTL_MS = 6_000;
/** Passed to presence.bind/refresh, which check it but no longer use it: a binding lives as long as its node. */
export const PRESENCE_TTL_MS = 30_000;
/**
 * How often a node checks that Redis still holds its sessions (O(1) per node while nothing is
 * lost; writes them back after a Redis restart or a wrong removeNode).
 */
export const PRESENCE_REFRESH_MS = 10_000;
/** A connection must send CONNECT within this long. */
export const AUTH_TIMEOUT_MS = 5_000;
/** How often idle/auth deadlines and RECV resends are checked. */
export const SWEEP_MS = 1_000;

export interface NodeAddressConfig {
  bindHost: string;
  tcpPort: number;
  wsPort: number;
  wssPort: number;
  externalHost: string;
  intranetHost: string;
}

export interface GatewayNodeOptions {
  id: string;
  addresses: NodeAddressConfig;
  apiUrl: string;
  tls: { cert: string | Buffer; key: string | Buffer };
  limits: SessionLimits & { maxWriteBufferBytes: number; maxConnections: number; idleTimeoutMs: number };
  allowedOrigins: string[];
  /** Where CONNECT tokens are checked. */
  tokens: TokenStore;
  presence: Presence;
  registry: NodeRegistry;
  bus: MessageBus;
  messenger: Messenger;
  metrics: SwitchboardMetrics;
  /** Told when a user's session opens or closes here (the user.onlinestatus webhook). */
  onlineObserver?: OnlineStatusObserver;
  logger: Logger;
}

/** Told when a session opens or closes, with the user's session counts on this node. */
export interface OnlineStatusObserver {
  userOnlineStatus(uid: string, deviceFlag: number, online: boolean, connId: string, deviceOnline: number, totalOnline: number): void;
}

/** A stable 32-bit number for a node id (CONNACK's node_id is numeric). */
export function nodeNumber(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** How long a kick is remembered for a login still binding (far above a presence round trip). */
const RECENT_KICK_MS = 30_000;
const kickKey = (uid: string, deviceFlag: number) => `${deviceFlag}:${uid}`;

/**
 * One gateway node: TCP, WS and WSS listeners feeding sessions, its entry in the registry, its
 * users' presence, and deliveries from the messenger or the bus to its sessions.
 */
export class GatewayNode implements LocalNode {
  readonly id: string;
  readonly sessions = new LocalSessions();
  private readonly pending = new Set<Session>();
  private readonly byConn = new Map<string, Session>();
  /**
   * Kicks by (uid, device), kept a while: a kick from another node can overtake the presence answer
   * of the login it targets (they travel on different Redis connections), find no session yet, and
   * must still apply when that login completes.
   */
  private readonly recentKicks = new Map<string, { exceptEpoch: number; reasonCode: number; reason: string; at: number }>();
  private listeners: Listener[] = [];
  private timers: NodeJS.Timeout[] = [];
  private readonly startedAt = Date.now();
  private readonly logger: Logger;
  private stopped = false;

  constructor(private readonly options: GatewayNodeOptions) {
    this.id = options.id;
    this.logger = options.logger.child({ node: options.id });
  }

  /** The addresses clients use, as announced (ports are the bound ones). */
  info(): NodeInfo {
    const [tcp, ws, wss] = this.listeners;
    const a = this.options.addresses;
    const addr = (host: string) => ({
      tcpAddr: `${host}:${tcp?.port}`,
      wsAddr: `ws://${host}:${ws?.port}`,
      wssAddr: `wss://${host}:${wss?.port}`,
    });
    return {
      id: this.id,
      external: addr(a.externalHost),
      intranet: addr(a.intranetHost),
      apiUrl: this.options.apiUrl,
      connections: this.byConn.size,
      startedAt: this.startedAt,
      lastSeen: Date.now(),
    };
  }

  async start(): Promise<void> {
    const o = this.options;
    const a = o.addresses;
    const common = {
      host: a.bindHost,
      handler: {
        onOpen: (conn: Connection) => this.onOpen(conn),
        onData: (conn: Connection, chunk: Uint8Array) => this.byConn.get(conn.id)?.onData(chunk),
        onClose: (conn: Connection) => this.onTransportClose(conn),
      },
      idPrefix: `${this.id}-`,
      maxConnections: o.limits.maxConnections,
      maxWriteBufferBytes: o.limits.maxWriteBufferBytes,
      maxFrameBytes: o.limits.maxFrameBytes,
      allowedOrigins: o.allowedOrigins,
      logger: this.logger,
    };
    try {
      this.listeners.push(await listenTcp({ ...common, port: a.tcpPort }));
      this.listeners.push(await listenWs({ ...common, port: a.wsPort }));
      this.listeners.push(await listenWss({ ...common, port: a.wssPort, tls: o.tls }));
    } catch (err) {
      await Promise.all(this.listeners.map((l) => l.close()));
      throw err;
    }
    o.messenger.addLocalNode(this);
    o.metrics.addConnectionSource(this);
    await o.registry.announce(this.info(), NODE_TTL_MS);
    this.every(NODE_HEARTBEAT_MS, () => o.registry.announce(this.info(), NODE_TTL_MS));
    this.every(PRESENCE_REFRESH_MS, () => o.presence.refresh(this.id, this.bindings(), PRESENCE_TTL_MS));
    this.every(SWEEP_MS, async () => this.sweep());
    this.logger.info({ info: this.info().external }, "gateway node listening");
  }

  private every(ms: number, task: () => unknown): void {
    const timer = setInterval(() => {
      Promise.resolve()
        .then(task)
        .catch((err) => this.logger.warn({ err }, "periodic node task failed"));
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private bindings() {
    const incarnation = this.startedAt;
    return this.sessions
      .all()
      .map((s) => ({ uid: s.uid, nodeId: this.id, deviceFlag: s.deviceFlag, connId: s.connId, epoch: s.epoch, incarnation }));
  }

  private onOpen(conn: Connection): void {
    const session = new Session(conn, {
      nodeId: this.id,
      nodeNumber: nodeNumber(this.id),
      nodeIncarnation: this.startedAt,
      limits: this.options.limits,
      tokens: this.options.tokens,
      presence: this.options.presence,
      messenger: this.options.messenger,
      metrics: this.options.metrics,
      presenceTtlMs: PRESENCE_TTL_MS,
      logger: this.logger,
      onAuthenticated: (s, displaced) => {
        this.pending.delete(s);
        this.sessions.add(s);
        // What this login displaced goes first, even if a newer login already overtook it: in a chain
        // A <- B <- C, B must still kick A when C's kick of B arrived before B's presence answer.
        if (displaced && displaced.connId !== s.connId) this.kickDisplaced(displaced);
        const kicked = this.recentKicks.get(kickKey(s.uid, s.deviceFlag));
        if (kicked && s.epoch < kicked.exceptEpoch) {
          s.kick(kicked.reasonCode, kicked.reason);
          return;
        }
        this.reportOnline(s, true);
      },
      onClosed: (s) => this.forget(s),
    });
    this.byConn.set(conn.id, session);
    this.pending.add(session);
  }

  private onTransportClose(conn: Connection): void {
    const session = this.byConn.get(conn.id);
    if (!session) return;
    this.byConn.delete(conn.id);
    this.pending.delete(session);
    session.onTransportClosed();
  }

  /** A session that was open ended: drop it from the index and presence. */
  private forget(session: Session): void {
    this.sessions.remove(session);
    this.reportOnline(session, false);
    this.options.presence
      .unbind(session.uid, session.deviceFlag, session.epoch)
      .catch((err) => this.logger.warn({ err, uid: session.uid }, "presence unbind failed"));
  }

  /** user.onlinestatus webhook, with this node's device and total session counts for the user. */
  private reportOnline(s: Session, online: boolean): void {
    const observer = this.options.onlineObserver;
    if (!observer) return;
    const all = this.sessions.of(s.uid);
    const sameDevice = all.filter((x) => x.deviceFlag === s.deviceFlag).length;
    observer.userOnlineStatus(s.uid, s.deviceFlag, online, s.connId, sameDevice, all.length);
  }

  /** A newer login of the same (uid, device) displaced an older one: kick it wherever it is. */
  private kickDisplaced(displaced: PresenceBinding): void {
    const { nodeId, uid, deviceFlag, epoch } = displaced;
    this.options.messenger.kick({ nodeId, uid, deviceFlag, exceptEpoch: epoch + 1 }, ReasonCode.ConnectKick, "login on another device");
  }

  /** Kick this node's sessions of (uid, device) older than exceptEpoch (local half of Messenger.kick). */
  kickLocal(target: KickTarget, reasonCode: number, reason: string): void {
    this.rememberKick(target, reasonCode, reason);
    for (const s of [...this.sessions.of(target.uid)]) {
      if (s.deviceFlag === target.deviceFlag && s.epoch < target.exceptEpoch) s.kick(reasonCode, reason);
    }
  }

  private rememberKick(target: KickTarget, reasonCode: number, reason: string): void {
    const key = kickKey(target.uid, target.deviceFlag);
    const now = Date.now();
    const previous = this.recentKicks.get(key);
    this.recentKicks.delete(key); // re-inserted last: the map stays in time order for pruning
    const exceptEpoch = Math.max(previous?.exceptEpoch ?? 0, target.exceptEpoch);
    this.recentKicks.set(key, { exceptEpoch, reasonCode, reason, at: now });
    for (const [k, v] of this.recentKicks) {
      if (now - v.at < RECENT_KICK_MS) break;
      this.recentKicks.delete(k);
    }
  }

  deliverLocal(uids: readonly string[], message: StoredMessage, excludeConnId?: string): void {
    // One frame per (version, view) for plaintext sessions: a group message is encoded a handful of times, not per member.
    const shared = new Map<string, Uint8Array>();
    for (const uid of uids) {
      for (const s of this.sessions.of(uid)) if (s.connId !== excludeConnId) s.deliver(message, shared);
    }
  }

  private sweep(): void {
    const now = Date.now();
    const idle = this.options.limits.idleTimeoutMs;
    for (const s of this.pending) {
      // Only a client that never sent CONNECT: one whose CONNECT is being checked (token, presence
      // under load) is waiting on us, not stalling.
      if (s.awaitingConnect && now - s.openedAt > AUTH_TIMEOUT_MS) s.fail(ReasonCode.AuthFail, "no CONNECT within the auth timeout");
    }
    for (const s of this.byConn.values()) {
      if (!s.isOpen) continue;
      if (now - s.lastActivity > idle) s.fail(ReasonCode.SystemError, "idle timeout: no PING or traffic");
      else s.resendDue(now);
    }
  }

  /** Open connections per transport, read by the metrics at scrape time. */
  connectionsByTransport(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const l of this.listeners) out[l.kind] = l.connectionCount();
    return out;
  }

  get connectionCount(): number {
    return this.byConn.size;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.options.messenger.removeLocalNode(this.id);
    this.options.metrics.removeConnectionSource(this);
    await this.options.registry.withdraw(this.id).catch((err) => this.logger.warn({ err }, "registry withdraw failed"));
    await Promise.all(this.listeners.map((l) => l.close()));
    await this.options.presence.removeNode(this.id).catch((err) => this.logger.warn({ err }, "presence cleanup failed"));
  }
}
