/**
 * A WuKongIM test client for tests that must see every frame: one call to connect and one to
 * send (resolving with the SENDACK), RECVs decrypted with their msg_key checked and acknowledged
 * (or not, to test resends), PING/PONG, and hooks to forge what the SDK would never send: a
 * tampered SEND, a raw payload, a frame written in pieces, bytes glued behind the CONNECT.
 * Every wait is on an event with a deadline; nothing sleeps.
 */
import {
  type DisconnectPacket,
  type Packet,
  PacketType,
  ReasonCode,
  type RecvPacket,
  type SendPacket,
  type SendackPacket,
  encodePing,
  encodeRecvack,
  encodeSend,
  recvackFor,
} from "../../../src/protocol/index.js";
import { sendPacket } from "./packets.js";
import { type HandshakeOptions, type Received, WAIT_MS, Wire, type WireOptions, dialTcp } from "./wire.js";

export { type Received, WAIT_MS } from "./wire.js";

export interface ClientOptions extends WireOptions {
  /** Answer each verified RECV with a RECVACK at once (default true). */
  autoAck?: boolean;
  /** Keep every RECV in `recvs` (default true). */
  keepRecvs?: boolean;
}

export type ConnectOptions = ClientOptions & HandshakeOptions;

export interface SendOptions {
  clientMsgNo?: string;
  /** SEND fields set before msg_key is computed (flags, setting, topic). */
  packet?: Partial<SendPacket>;
  /** The wire payload as is, instead of the encrypted text (msg_key is still computed over it). */
  wirePayload?: Uint8Array;
  /** Change the packet after msg_key was computed (to forge one). */
  tamper?: (p: SendPacket) => void;
  /** Write the frame in pieces of this many bytes, each flushed before the next. */
  chunkSize?: number;
  /** Deadline for the SENDACK (default WAIT_MS). */
  timeoutMs?: number;
}

export class Client extends Wire {
  readonly recvs: Received[] = [];
  autoAck: boolean;
  /** Runs for every RECV, after it was checked (and acknowledged when autoAck). */
  onRecv: ((r: Received) => void) | undefined;
  private readonly keepRecvs: boolean;
  private readonly sendacks = new Map<number, SendackPacket>();
  private clientSeq = 0;
  private pongs = 0;

  constructor(transport: Wire["transport"], o: ClientOptions = {}) {
    super(transport, o);
    this.autoAck = o.autoAck ?? true;
    this.keepRecvs = o.keepRecvs ?? true;
  }

  /** A TCP connection with nothing sent yet (for bad-input tests). */
  static override async open(addr: string, o: ClientOptions = {}): Promise<Client> {
    return new Client(await dialTcp(addr, o), o);
  }

  /**
   * TCP, CONNECT with a fresh X25519 key (or none: `plaintext`), then the CONNACK. Resolves
   * whatever the reason code; check `connack`. `timeoutMs` bounds the connect and the CONNACK.
   */
  static async connect(addr: string, o: ConnectOptions): Promise<Client> {
    const deadline = Date.now() + (o.timeoutMs ?? WAIT_MS);
    const client = await Client.open(addr, o);
    try {
      await client.handshake({ ...o, timeoutMs: Math.max(1, deadline - Date.now()) });
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  protected override received(p: Packet): void {
    super.received(p);
    if (p.type === PacketType.PONG) this.pongs++;
    else if (p.type === PacketType.SENDACK) this.sendacks.set(p.clientSeq, p);
    else if (p.type === PacketType.RECV) {
      if (this.connack?.reasonCode !== ReasonCode.Success) throw new Error("RECV before a successful CONNACK");
      const r = this.openRecv(p);
      if (this.keepRecvs) this.recvs.push(r);
      // A client drops a RECV whose msg_key fails (as the JS SDK does) and never acks it.
      if (this.autoAck && r.msgKeyOk) this.recvack(r);
      this.onRecv?.(r);
    }
  }

  /** The first RECV matching `match` (already received or still to come). */
  waitRecv(what: string, match: (r: Received) => boolean, timeoutMs = WAIT_MS): Promise<Received> {
    return this.waitFor(`RECV ${what}`, () => this.recvs.find(match), timeoutMs);
  }

  /** RECVs whose text is `text`. */
  recvsOf(text: string): Received[] {
    return this.recvs.filter((r) => r.text === text);
  }

  /** A SEND of `text` (encrypted on an encrypted session); resolves with its SENDACK, matched by client_seq. */
  async send(channelId: string, channelType: number, text: string, o: SendOptions = {}): Promise<SendackPacket> {
    if (this.connack?.reasonCode !== ReasonCode.Success) throw new Error(`${this.uid}: send before a successful CONNACK`);
    const clientSeq = ++this.clientSeq;
    const packet = sendPacket({
      clientSeq,
      clientMsgNo: o.clientMsgNo ?? `${this.uid}-${clientSeq}-${Math.random().toString(36).slice(2)}`,
      channelId,
      channelType,
      payload: o.wirePayload ?? this.encrypt(text),
      ...o.packet,
    });
    packet.msgKey = this.msgKeyOf(packet);
    o.tamper?.(packet);
    const frame = encodeSend(packet, this.version);
    if (o.chunkSize) await this.writeChunked(frame, o.chunkSize);
    else this.write(frame);
    return this.waitFor(`SENDACK ${clientSeq}`, () => this.sendacks.get(clientSeq), o.timeoutMs ?? WAIT_MS).finally(() =>
      this.sendacks.delete(clientSeq),
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
}
