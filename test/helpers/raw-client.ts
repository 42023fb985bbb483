/**
 * A raw TCP WuKongIM client on our own codec (src/protocol), for gateway tests that must see every
 * frame: X25519 handshake, encrypted SEND with msg_key, RECVs decrypted and their msg_key checked,
 * manual or automatic RECVACK, PING/PONG, and the DISCONNECT/close that ends a connection.
 * Every wait is on an event with a deadline; nothing sleeps.
 */
import net from "node:net";
import {
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
  type SendackPacket,
  createClientKeys,
  decryptPayload,
  deriveClientSession,
  encodeConnect,
  encodePing,
  encodeRecvack,
  encodeSend,
  encryptPayload,
  recvMsgKey,
  recvackFor,
  sendMsgKey,
} from "../../src/protocol/index.js";

export const WAIT_MS = 5_000;

export interface RawConnectOptions {
  uid: string;
  token?: string;
  deviceFlag?: number;
  deviceId?: string;
  /** CONNECT version byte (default 5, the newest we negotiate). */
  version?: number;
  /** Answer each verified RECV with a RECVACK at once (default true). */
  autoAck?: boolean;
  /** Bytes written in the same write as the CONNECT (glued frames). */
  glue?: Uint8Array;
}

/** A RECV as the client saw it: the packet, its decrypted text and whether its msg_key verified. */
export interface Received {
  packet: RecvPacket;
  text: string;
  msgKeyOk: boolean;
}

export interface SendOptions {
  clientMsgNo?: string;
  /** The wire payload as is, instead of the encrypted text (msg_key is still computed over it). */
  wirePayload?: Uint8Array;
  /** Change the packet after msg_key was computed (to forge one). */
  tamper?: (p: SendPacket) => void;
  /** Write the frame in pieces of this many bytes, each flushed before the next. */
  chunkSize?: number;
}

export class RawClient {
  /** Every packet the server sent, in order. */
  readonly packets: Packet[] = [];
  readonly recvs: Received[] = [];
  connack: ConnackPacket | undefined;
  disconnect: DisconnectPacket | undefined;
  closed = false;
  /** The server sent bytes our decoder refused. */
  decodeError: Error | undefined;
  autoAck = true;
  private crypto: CryptoSession | undefined;
  private readonly decoder: FrameDecoder;
  private readonly wakers = new Set<() => void>();
  private clientSeq = 0;
  private pongs = 0;

  private constructor(
    readonly socket: net.Socket,
    public version: number,
    readonly uid: string,
  ) {
    this.decoder = new FrameDecoder({ version: Math.max(2, Math.min(version, LATEST_VERSION)) });
    socket.on("data", (chunk: Buffer) => {
      try {
        for (const p of this.decoder.push(chunk)) this.onPacket(p);
      } catch (err) {
        this.decodeError = err as Error;
        socket.destroy();
      }
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  /** A TCP connection with nothing sent yet (for bad-input tests). */
  static async open(addr: string, version = LATEST_VERSION, uid = ""): Promise<RawClient> {
    const i = addr.lastIndexOf(":");
    const socket = net.connect({ host: addr.slice(0, i), port: Number(addr.slice(i + 1)) });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    socket.setNoDelay(true);
    return new RawClient(socket, version, uid);
  }

  /** CONNECT with a fresh X25519 key, then CONNACK. Resolves whatever the reason code; check `connack`. */
  static async connect(addr: string, o: RawConnectOptions): Promise<RawClient> {
    const version = o.version ?? LATEST_VERSION;
    const client = await RawClient.open(addr, version, o.uid);
    client.autoAck = o.autoAck ?? true;
    const keys = createClientKeys();
    const connect = encodeConnect(
      {
        type: PacketType.CONNECT,
        version,
        deviceFlag: o.deviceFlag ?? 0,
        deviceId: o.deviceId ?? `${o.uid}-${o.deviceFlag ?? 0}-${Math.random().toString(36).slice(2, 8)}`,
        uid: o.uid,
        token: o.token ?? "",
        clientTimestamp: Date.now(),
        clientKey: keys.publicKeyBase64,
      },
      Math.max(2, Math.min(version, LATEST_VERSION)),
    );
    client.write(o.glue ? Buffer.concat([connect, o.glue]) : connect);
    const connack = await client.waitFor("CONNACK", () => client.connack, WAIT_MS, true);
    if (connack.reasonCode === ReasonCode.Success) {
      client.crypto = deriveClientSession(keys.privateKey, connack.serverKey, connack.salt);
      client.version = connack.serverVersion ?? Math.max(2, Math.min(version, LATEST_VERSION));
    }
    return client;
  }

  private onPacket(p: Packet): void {
    this.packets.push(p);
    switch (p.type) {
      case PacketType.CONNACK:
        this.connack = p;
        return;
      case PacketType.DISCONNECT:
        this.disconnect = p;
        return;
      case PacketType.PONG:
        this.pongs++;
        return;
      case PacketType.RECV: {
        const crypto = this.crypto;
        if (!crypto) throw new Error("RECV before a successful CONNACK");
        const msgKeyOk = recvMsgKey(crypto, p) === p.msgKey;
        const text = msgKeyOk ? decryptPayload(crypto, p.payload).toString("utf8") : "";
        this.recvs.push({ packet: p, text, msgKeyOk });
        // A client drops a RECV whose msg_key fails (as the JS SDK does) and never acks it.
        if (this.autoAck && msgKeyOk) this.recvack(p);
      }
    }
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  /**
   * Resolves with check()'s first defined value, re-checked on every packet and on close. Rejects
   * after timeoutMs, or as soon as the connection closes without it (unless evenIfClosed).
   */
  waitFor<T>(what: string, check: () => T | undefined, timeoutMs = WAIT_MS, evenIfClosed = false): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = (err: Error | undefined, v?: T) => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        if (err) reject(err);
        else resolve(v as T);
      };
      const timer = setTimeout(
        () => done(new Error(`${this.uid || "client"}: timed out after ${timeoutMs} ms waiting for ${what}`)),
        timeoutMs,
      );
      const wake = () => {
        const v = check();
        if (v !== undefined) done(undefined, v);
        else if (this.closed && !evenIfClosed)
          done(new Error(`${this.uid || "client"}: connection closed while waiting for ${what}${this.why()}`));
      };
      this.wakers.add(wake);
      wake();
    });
  }

  private why(): string {
    if (this.decodeError) return ` (undecodable server bytes: ${this.decodeError.message})`;
    return this.disconnect ? ` (DISCONNECT ${this.disconnect.reasonCode} "${this.disconnect.reason}")` : "";
  }

  /** The first RECV matching `match` (already received or still to come). */
  waitRecv(what: string, match: (r: Received) => boolean, timeoutMs = WAIT_MS): Promise<Received> {
    return this.waitFor(`RECV ${what}`, () => this.recvs.find(match), timeoutMs);
  }

  /** RECVs whose text is `text`. */
  recvsOf(text: string): Received[] {
    return this.recvs.filter((r) => r.text === text);
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Writes `bytes` in pieces, waiting for each to be handed to the kernel before the next. */
  async writeChunked(bytes: Uint8Array, size: number): Promise<void> {
    for (let i = 0; i < bytes.length && !this.socket.destroyed; i += size) {
      await new Promise<void>((resolve, reject) =>
        this.socket.write(bytes.subarray(i, i + size), (err) => (err ? reject(err) : resolve())),
      );
    }
  }

  /** An encrypted SEND; resolves with its SENDACK (matched by client_seq among packets after it). */
  async send(channelId: string, channelType: number, text: string, o: SendOptions = {}): Promise<SendackPacket> {
    const crypto = this.crypto;
    if (!crypto) throw new Error(`${this.uid}: send before a successful CONNACK`);
    const clientSeq = ++this.clientSeq;
    const payload = o.wirePayload ?? encryptPayload(crypto, Buffer.from(text, "utf8"));
    const packet: SendPacket = {
      type: PacketType.SEND,
      dup: false,
      syncOnce: false,
      redDot: true,
      noPersist: false,
      setting: 0,
      clientSeq,
      clientMsgNo: o.clientMsgNo ?? `${this.uid}-${clientSeq}-${Math.random().toString(36).slice(2)}`,
      channelId,
      channelType,
      expire: 0,
      msgKey: "",
      payload,
    };
    packet.msgKey = sendMsgKey(crypto, packet);
    o.tamper?.(packet);
    const from = this.packets.length;
    const frame = encodeSend(packet, this.version);
    if (o.chunkSize) await this.writeChunked(frame, o.chunkSize);
    else this.write(frame);
    return this.waitFor(`SENDACK ${clientSeq}`, () =>
      this.packets.slice(from).find((p): p is SendackPacket => p.type === PacketType.SENDACK && p.clientSeq === clientSeq),
    );
  }

  recvack(r: Received | RecvPacket): void {
    const p = "packet" in r ? r.packet : r;
    this.write(encodeRecvack(recvackFor(p), this.version));
  }

  /**
   * PING, resolved by the PONG. The server handles a connection's frames in order, so after it
   * every frame sent earlier has been processed and everything the server wrote before is here.
   */
  async ping(timeoutMs = WAIT_MS): Promise<void> {
    const want = this.pongs + 1;
    this.write(encodePing());
    await this.waitFor("PONG", () => (this.pongs >= want ? true : undefined), timeoutMs);
  }

  /** Resolves when the server closed the connection, with the DISCONNECT it sent first, if any. */
  async ended(timeoutMs = WAIT_MS): Promise<DisconnectPacket | undefined> {
    await this.waitFor("the server to close the connection", () => (this.closed ? true : undefined), timeoutMs, true);
    return this.disconnect;
  }

  /** Half-close: no more bytes from us. */
  end(): void {
    this.socket.end();
  }

  close(): void {
    this.socket.destroy();
  }
}
