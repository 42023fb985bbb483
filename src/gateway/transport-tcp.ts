/** Raw TCP listener: the client's bytes are the WuKongIM stream as is. */
import { type Socket, createServer } from "node:net";
import {
  BaseConnection,
  ConnectionTracker,
  KEEPALIVE_INITIAL_DELAY_MS,
  bindServer,
  closeServer,
  resolveListenerOptions,
} from "./transport-base.js";
import type { Listener, ListenerOptions } from "./transport.js";

class TcpConnection extends BaseConnection {
  constructor(
    private readonly socket: Socket,
    tracker: ConnectionTracker,
  ) {
    super("tcp", socket.remoteAddress ?? "unknown", tracker);
    socket.on("data", (chunk: Buffer) => this.deliver(chunk));
    // An error is always followed by 'close'; it only names the reason. Unhandled, it would kill the process.
    socket.on("error", (err: NodeJS.ErrnoException) => {
      this.logger.debug({ conn: this.id, err: err.message, code: err.code }, "tcp socket error");
      this.peerEnded(`socket error: ${err.code ?? err.message}`);
    });
    socket.on("end", () => this.peerEnded("client closed"));
    socket.on("close", () => this.finished("client closed"));
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  protected override canWrite(): boolean {
    return this.socket.writable;
  }

  protected send(data: Uint8Array): void {
    // Everything written in one tick (a batch of SENDACKs, a fan-out's RECVs) leaves as one writev.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.socket.write(data);
  }

  private corked = false;
  private readonly uncork = () => {
    this.corked = false;
    this.socket.uncork();
  };

  protected sendMany(frames: readonly Uint8Array[]): void {
    // Corked writes leave as one writev: one syscall, and with Nagle off, as few packets as possible.
    this.socket.cork();
    for (const f of frames) if (f.length > 0) this.socket.write(f);
    this.socket.uncork();
  }

  protected shutdown(): void {
    this.socket.end(); // flushes first; the base class destroys it if that takes longer than CLOSE_GRACE_MS
  }

  protected kill(): void {
    this.socket.destroy();
  }
}

/** Listen for raw TCP clients. Rejects with a `ListenError` when the port cannot be bound. */
export async function listenTcp(opts: ListenerOptions): Promise<Listener> {
  const options = resolveListenerOptions("tcp", opts);
  const { logger } = options;
  const tracker = new ConnectionTracker(options);
  // noDelay: frames are small and latency matters; keepAlive: notice peers that vanished without a FIN.
  const server = createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_INITIAL_DELAY_MS });

  server.on("connection", (socket: Socket) => {
    if (!tracker.hasRoom()) {
      socket.on("error", () => {});
      socket.destroy();
      logger.debug({ remote: socket.remoteAddress, open: tracker.size }, "tcp connection refused: listener full or closing");
      return;
    }
    tracker.add(new TcpConnection(socket, tracker));
  });
  // Once bound, server errors (e.g. EMFILE on accept) are only logged: Node keeps accepting. Before, bindServer rejects.
  server.on("error", (err) => {
    if (server.listening) logger.error({ err }, "tcp listener error");
  });
  const port = await bindServer(server, "tcp", options.host, options.port);

  let closing: Promise<void> | undefined;
  return {
    kind: "tcp",
    host: options.host,
    port,
    connectionCount: () => tracker.size,
    close() {
      closing ??= (async () => {
        const stopped = closeServer(server);
        await tracker.closeAll();
        await stopped;
      })();
      return closing;
    },
  };
}
