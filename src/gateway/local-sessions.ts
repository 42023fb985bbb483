import type { StoredMessage } from "../store/message-store.js";

/** What the node and the messenger need of a connected, authenticated client session. */
export interface SessionHandle {
  readonly connId: string;
  readonly uid: string;
  readonly deviceFlag: number;
  readonly epoch: number;
  /** Push a stored message as a RECV (tracked until RECVACK); `shared` lets plaintext sessions reuse frames. */
  deliver(message: StoredMessage, shared?: Map<string, Uint8Array>): void;
  /** Send DISCONNECT with a reason code and close. */
  kick(reasonCode: number, reason: string): void;
}

/** The authenticated sessions of one gateway node, by uid (a user may have several devices). */
export class LocalSessions {
  private readonly byUid = new Map<string, SessionHandle[]>();
  private count = 0;

  add(session: SessionHandle): void {
    const list = this.byUid.get(session.uid);
    if (list) list.push(session);
    else this.byUid.set(session.uid, [session]);
    this.count++;
  }

  remove(session: SessionHandle): void {
    const list = this.byUid.get(session.uid);
    if (!list) return;
    const i = list.indexOf(session);
    if (i < 0) return;
    list.splice(i, 1);
    this.count--;
    if (list.length === 0) this.byUid.delete(session.uid);
  }

  of(uid: string): readonly SessionHandle[] {
    return this.byUid.get(uid) ?? EMPTY;
  }

  get size(): number {
    return this.count;
  }

  uids(): IterableIterator<string> {
    return this.byUid.keys();
  }

  all(): SessionHandle[] {
    return [...this.byUid.values()].flat();
  }
}

const EMPTY: readonly SessionHandle[] = Object.freeze([]);
