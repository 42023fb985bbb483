/**
 * One WuKongIM connection on our own codec (src/protocol), over TCP or a WebSocket: bytes out,
 * packets in through the project's FrameDecoder, waits that re-check on every packet and on the
 * close, the CONNECT handshake with a fresh X25519 key, and the SEND/RECV payload crypto of the
 * session. No retries and no replies of its own: client.ts and counting-client.ts add those.
 */
import net from "node:net";
import WebSocket from "ws";
import {
  type ClientKeys,
  type ConnackPacket,
  type CryptoSession,
  type DisconnectPacket,
  FrameDecoder,
  LATEST_VERSION,
  type Packet,
  PacketType,
  ReasonCode,
  type RecvPacket,
  type SendPacket,
  createClientKeys,
  decryptPayload,
  deriveClientSession,
  encryptPayload,
  recvMsgKey,
  sendMsgKey,
} from "../../../src/protocol/index.js";
import { Waiters, sleep } from "../wait.js";
import { codecVersion, connectFrame } from "./packets.js";

/** The default deadline of every wait. */
export const WAIT_MS = 5_000;

export interface WireOptions {
  /** Source address of the TCP socket (spreads many sockets over 127.0.0.x). */
  localAddress?: string;
  /** Deadline for the TCP connect or WebSocket upgrade (default: none). */
  timeoutMs?: number;
  /** Keep every packet in `packets` (default true; long runs that only count turn it off). */
  keepPackets?: boolean;
  /** After bytes our decoder refuses, leave the connection open (default: close it). */
  keepOnDecodeError?: boolean;
  /** Decoder version before a handshake settles it (default the latest). */
  version?: number;
}

export interface HandshakeOptions {
  uid: string;
  token?: string;
  deviceFlag?: number;
  deviceId?: string;
  /** CONNECT version byte (default the latest; 0 means latest, above it is capped by the server). */
  version?: number;
  /** No client_key: ask for a plaintext session. */
  plaintext?: boolean;
  /** Bytes written in the same write as the CONNECT (glued frames). */
  glue?: Uint8Array;
  /** Deadline for the CONNACK (default WAIT_MS). */
  timeoutMs?: number;
}

/** A RECV as the client saw it: the packet, its decrypted text and whether its msg_key verified. */
export interface Received {
  packet: RecvPacket;
  text: string;
  msgKeyOk: boolean;
}

/** The server answered a WebSocket upgrade with an HTTP status instead of switching protocols. */
export class UpgradeRefused extends Error {
  constructor(readonly status: number) {
    super(`WebSocket upgrade refused with HTTP ${status}`);
  }
}

/** A TCP connection to "host:port" ("[v6]:port" too), Nagle off. */
export function dialTcp(addr: string, o: WireOptions = {}): Promise<net.Socket> {
  const i = addr.lastIndexOf(":");
  const socket = net.connect({
    host: addr.slice(0, i).replace(/^\[|\]$/g, ""),
    port: Number(addr.slice(i + 1)),
    localAddress: o.localAddress,
  });
  socket.setNoDelay(true);
  return new Promise((resolve, reject) => {
    const timer = o.timeoutMs
      ? setTimeout(() => {
          socket.destroy();
          reject(new Error(`no TCP connection to ${addr} within ${o.timeoutMs} ms`));
        }, o.timeoutMs)
      : undefined;
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** An open WebSocket; rejects with UpgradeRefused on an HTTP answer, or the socket/TLS error. */
export function dialWs(url: string, o: WireOptions & { ws?: WebSocket.ClientOptions } = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, o.ws);
  // Aborting a handshake emits a late "error": never let it go unheard.
  ws.on("error", () => {});
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    const timer = o.timeoutMs
      ? setTimeout(() => fail(new Error(`no WebSocket to ${url} within ${o.timeoutMs} ms`)), o.timeoutMs)
      : undefined;
    ws.once("open", () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once("unexpected-response", (_req, res) => fail(new UpgradeRefused(res.statusCode ?? 0)));
    ws.once("error", fail);
  });
}

export class Wire {
  /** Every packet the server sent, in order (unless keepPackets is off). */
  readonly packets: Packet[] = [];
  connack: ConnackPacket | undefined;
  disconnect: DisconnectPacket | undefined;
  closed = false;
  /** The server sent bytes our decoder refused. */
  decodeError: Error | undefined;
  /** The last socket error (the connection closes after it). */
  socketError: Error | undefined;
  /** The session key after a successful encrypted handshake; none on a plaintext session. */
  crypto: CryptoSession | undefined;
  /** The version frames are encoded at: the negotiated one once the CONNACK came. */
  version: number;
  uid = "";
  /** Runs for every packet, after the wire's own bookkeeping. */
  onPacket: ((p: Packet) => void) | undefined;
  /** Runs once, when the connection is closed. */
  onClose: (() => void) | undefined;
  protected readonly waiters = new Waiters();
  private readonly decoder: FrameDecoder;
  private readonly keepPackets: boolean;
  private readonly whenClosed: Promise<void>;
  private keys: ClientKeys | undefined;
  private requested = LATEST_VERSION;

  constructor(
    readonly transport: net.Socket | WebSocket,
    o: WireOptions = {},
  ) {
    this.version = codecVersion(o.version ?? LATEST_VERSION);
    this.decoder = new FrameDecoder({ version: this.version });
    this.keepPackets = o.keepPackets ?? true;
    const onData = (chunk: Buffer) => {
      if (this.decodeError) return;
      try {
        for (const p of this.decoder.push(chunk)) this.received(p);
      } catch (err) {
        this.decodeError = err as Error;
        if (!o.keepOnDecodeError) this.close();
      }
      this.waiters.wake();
    };
    let closed!: () => void;
    this.whenClosed = new Promise<void>((r) => {
      closed = r;
    });
    const onClose = () => {
      this.closed = true;
      closed();
      this.waiters.wake();
      this.onClose?.();
    };
    const onError = (err: Error) => {
      this.socketError = err;
    };
    if (transport instanceof WebSocket) {
      transport
        .on("message", (data) => onData(data as Buffer))
        .on("close", onClose)
        .on("error", onError);
    } else {
      transport.on("data", onData).on("close", onClose).on("error", onError);
    }
  }

  /** A TCP connection with nothing sent yet. */
  static async open(addr: string, o: WireOptions = {}): Promise<Wire> {
    return new Wire(await dialTcp(addr, o), o);
  }

  /** A WebSocket connection with nothing sent yet. */
  static async openWs(url: string, o: WireOptions & { ws?: WebSocket.ClientOptions } = {}): Promise<Wire> {
    return new Wire(await dialWs(url, o), o);
  }

  /** Bookkeeping for one packet; subclasses add theirs and call this first. */
  protected received(p: Packet): void {
    if (this.keepPackets) this.packets.push(p);
    if (p.type === PacketType.CONNACK && !this.connack) {
      this.connack = p;
      // At once, not after the await: a RECV glued behind the CONNACK needs the session already.
      if (p.reasonCode === ReasonCode.Success) {
        if (this.keys && p.serverKey) this.crypto = deriveClientSession(this.keys.privateKey, p.serverKey, p.salt);
        this.version = p.serverVersion ?? codecVersion(this.requested);
      }
    } else if (p.type === PacketType.DISCONNECT) this.disconnect = p;
    this.onPacket?.(p);
  }

  /** CONNECT with a fresh X25519 key (none when plaintext), then the CONNACK. Resolves whatever its reason code. */
  async handshake(h: HandshakeOptions): Promise<ConnackPacket> {
    this.uid = h.uid;
    this.waiters.label = h.uid;
    this.requested = h.version ?? LATEST_VERSION;
    this.keys = h.plaintext ? undefined : createClientKeys();
    const frame = connectFrame({
      uid: h.uid,
      token: h.token ?? "",
      deviceFlag: h.deviceFlag ?? 0,
      deviceId: h.deviceId ?? `${h.uid}-${h.deviceFlag ?? 0}-${Math.random().toString(36).slice(2, 8)}`,
      version: this.requested,
      clientKey: this.keys?.publicKeyBase64 ?? "",
    });
    this.write(h.glue ? Buffer.concat([frame, h.glue]) : frame);
    return this.waitFor("CONNACK", () => this.connack, h.timeoutMs ?? WAIT_MS);
  }

  /**
   * Resolves with check()'s first defined value, re-checked on every packet and on the close.
   * Rejects after timeoutMs, on undecodable server bytes, or as soon as the connection closes
   * without it (unless evenIfClosed).
   */
  waitFor<T>(what: string, check: () => T | undefined, timeoutMs = WAIT_MS, evenIfClosed = false): Promise<T> {
    return this.waiters.waitFor(what, check, timeoutMs, () => {
      if (this.decodeError) return `undecodable server bytes (${this.decodeError.message})`;
      if (!this.closed || evenIfClosed) return undefined;
      const d = this.disconnect;
      return `connection closed${d ? ` (DISCONNECT ${d.reasonCode} "${d.reason}")` : ""}`;
    });
  }

  /** Whether the connection closes within `ms` (never rejects). */
  closedWithin(ms: number): Promise<boolean> {
    return Promise.race([this.whenClosed.then(() => true), sleep(ms).then(() => false)]);
  }

  /** The SEND payload for `text`: AES then base64 on an encrypted session, the UTF-8 bytes on a plaintext one. */
  encrypt(text: string): Uint8Array {
    const plain = Buffer.from(text, "utf8");
    return this.crypto ? encryptPayload(this.crypto, plain) : plain;
  }

  /** The msg_key the server checks for `p` ("" on a plaintext session). */
  msgKeyOf(p: SendPacket): string {
    return this.crypto ? sendMsgKey(this.crypto, p) : "";
  }

  /** A RECV's text, if its msg_key verifies (a plaintext session has none to verify). */
  openRecv(p: RecvPacket): Received {
    if (!this.crypto) return { packet: p, text: Buffer.from(p.payload).toString("utf8"), msgKeyOk: true };
    const msgKeyOk = recvMsgKey(this.crypto, p) === p.msgKey;
    return { packet: p, text: msgKeyOk ? decryptPayload(this.crypto, p.payload).toString("utf8") : "", msgKeyOk };
  }

  /** Writes `bytes` unless the connection is closed; `done` runs once they are handed to the kernel. */
  write(bytes: Uint8Array, done?: (err?: Error | null) => void): void {
    const t = this.transport;
    if (!this.writable) return;
    if (t instanceof WebSocket) t.send(bytes, done);
    else t.write(bytes, done);
  }

  /** Writes `bytes` in pieces, each handed to the kernel before the next. */
  async writeChunked(bytes: Uint8Array, size: number): Promise<void> {
    for (let i = 0; i < bytes.length && this.writable; i += size) {
      await new Promise<void>((resolve, reject) => this.write(bytes.subarray(i, i + size), (err) => (err ? reject(err) : resolve())));
    }
  }

  get writable(): boolean {
    const t = this.transport;
    return t instanceof WebSocket ? t.readyState === WebSocket.OPEN : !t.destroyed;
  }

  /** Stop reading: the kernel's buffers fill, then the server's. */
  pause(): void {
    this.transport.pause();
  }

  /** Half-close: no more bytes from us. */
  end(): void {
    if (this.transport instanceof WebSocket) this.transport.close();
    else this.transport.end();
  }

  close(): void {
    if (this.transport instanceof WebSocket) this.transport.terminate();
    else this.transport.destroy();
  }
}
