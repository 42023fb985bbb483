/**
 * A minimal WuKongIM client over raw TCP on our own codec, for tests that need bytes the SDK
 * would not send: plaintext sessions, exact frames, sockets that stop reading.
 */
import net from "node:net";
import {
  type ConnackPacket,
  type CryptoSession,
  FrameDecoder,
  type Packet,
  PacketType,
  type RecvPacket,
  type SendackPacket,
  createClientKeys,
  decryptPayload,
  deriveClientSession,
  encodeConnect,
  encodeRecvack,
  encodeSend,
  encryptPayload,
  recvackFor,
  sendMsgKey,
} from "../../src/protocol/index.js";

export interface TcpClientOptions {
  uid: string;
  token?: string;
  deviceFlag?: number;
  version?: number;
  /** No client_key: ask for a plaintext session. */
  plaintext?: boolean;
}

export class TcpClient {
  readonly packets: Packet[] = [];
  readonly recvs: (RecvPacket & { plain: Buffer })[] = [];
  connack: ConnackPacket | undefined;
  closed = false;
  private crypto: CryptoSession | undefined;
  private readonly decoder: FrameDecoder;
  private readonly wakers = new Set<() => void>();
  private clientSeq = 0;

  private constructor(
    readonly socket: net.Socket,
    readonly version: number,
  ) {
    this.decoder = new FrameDecoder({ version });
    socket.on("data", (chunk) => {
      for (const p of this.decoder.push(chunk)) this.onPacket(p);
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  static async connect(addr: string, o: TcpClientOptions): Promise<TcpClient> {
    const [host, port] = addr.split(":");
    const socket = net.connect({ host, port: Number(port) });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const version = o.version ?? 4;
    const client = new TcpClient(socket, version);
    const keys = o.plaintext ? undefined : createClientKeys();
    socket.write(
      encodeConnect(
        {
          type: PacketType.CONNECT,
          version,
          deviceFlag: o.deviceFlag ?? 0,
          deviceId: `${o.uid}-device`,
          uid: o.uid,
          token: o.token ?? "",
          clientTimestamp: Date.now(),
          clientKey: keys?.publicKeyBase64 ?? "",
        },
        version,
      ),
    );
    const connack = await client.waitFor("CONNACK", () => client.connack);
    if (keys && connack.reasonCode === 1) client.crypto = deriveClientSession(keys.privateKey, connack.serverKey, connack.salt);
    return client;
  }

  private onPacket(p: Packet): void {
    this.packets.push(p);
    if (p.type === PacketType.CONNACK) this.connack = p;
    if (p.type === PacketType.RECV) {
      const plain = this.crypto ? decryptPayload(this.crypto, p.payload) : Buffer.from(p.payload);
      this.recvs.push({ ...p, plain });
      this.socket.write(encodeRecvack(recvackFor(p), this.version));
    }
  }

  private wake(): void {
    for (const w of this.wakers) w();
  }

  waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 10_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wakers.delete(wake);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const wake = () => {
        const v = check();
        if (v === undefined) return;
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve(v);
      };
      this.wakers.add(wake);
      wake();
    });
  }

  async send(channelId: string, channelType: number, text: string, clientMsgNo = `${Date.now()}-${Math.random()}`): Promise<SendackPacket> {
    const clientSeq = ++this.clientSeq;
    const plain = Buffer.from(text, "utf8");
    const packet = {
      type: PacketType.SEND as const,
      dup: false,
      syncOnce: false,
      redDot: true,
      noPersist: false,
      setting: 0,
      clientSeq,
      clientMsgNo,
      channelId,
      channelType,
      expire: 0,
      msgKey: "",
      payload: this.crypto ? encryptPayload(this.crypto, plain) : plain,
    };
    if (this.crypto) packet.msgKey = sendMsgKey(this.crypto, packet);
    this.socket.write(encodeSend(packet, this.version));
    return this.waitFor(`SENDACK ${clientSeq}`, () =>
      this.packets.find((p): p is SendackPacket => p.type === PacketType.SENDACK && p.clientSeq === clientSeq),
    );
  }

  close(): void {
    this.socket.destroy();
  }
}
