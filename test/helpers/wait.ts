/**
 * Waiting in tests, always with a deadline and an error that names what was awaited: `until` polls
 * a condition, `within` bounds a promise, and `Waiters` re-checks a condition whenever its owner
 * says something happened (a packet, a close), so event-driven waits need no polling at all.
 */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const timedOut = (what: string, ms: number) => new Error(`timed out after ${ms} ms waiting for ${what}`);

/**
 * Polls `check` (sync or async) every `everyMs` until it returns a value other than undefined,
 * false or null; resolves with that value. Throws after `timeoutMs`, naming `what`.
 */
export async function untilValue<T>(
  what: string,
  check: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  timeoutMs = 5_000,
  everyMs = 20,
): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false && v !== null) return v;
    if (Date.now() - start > timeoutMs) throw timedOut(what, timeoutMs);
    await sleep(everyMs);
  }
}

/** Polls `check` until it is true; resolves with the milliseconds it took. Throws after `timeoutMs`, naming `what`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000, everyMs = 20): Promise<number> {
  const start = Date.now();
  await untilValue(what, check, timeoutMs, everyMs);
  return Date.now() - start;
}

/** `p`, or a rejection naming `what` after `timeoutMs`. */
export function within<T>(p: Promise<T>, what: string, timeoutMs = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut(what, timeoutMs)), timeoutMs);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Event-driven waits: each pending check runs again on every `wake()`. */
export class Waiters {
  private readonly pending = new Set<() => void>();

  /** `label` prefixes every error (e.g. the uid of the client that waited). */
  constructor(public label = "") {}

  wake(): void {
    if (this.pending.size === 0) return;
    for (const w of [...this.pending]) w();
  }

  /**
   * Resolves with check()'s first value other than undefined. Rejects after `timeoutMs`, or as
   * soon as `fail()` names a reason the value can no longer come (a closed connection).
   */
  waitFor<T>(what: string, check: () => T | undefined, timeoutMs: number, fail?: () => string | undefined): Promise<T> {
    const prefix = this.label ? `${this.label}: ` : "";
    return new Promise((resolve, reject) => {
      const done = (err: Error | undefined, v?: T) => {
        clearTimeout(timer);
        this.pending.delete(wake);
        if (err) reject(err);
        else resolve(v as T);
      };
      const timer = setTimeout(() => done(new Error(`${prefix}${timedOut(what, timeoutMs).message}`)), timeoutMs);
      const wake = () => {
        const v = check();
        if (v !== undefined) return done(undefined, v);
        const why = fail?.();
        if (why !== undefined) done(new Error(`${prefix}${why} while waiting for ${what}`));
      };
      this.pending.add(wake);
      wake();
    });
  }
}
