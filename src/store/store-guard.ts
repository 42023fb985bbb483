/**
 * The store as the rest of the node sees it: every call answers within `timeoutMs`, and a store
 * that cannot serve (unreachable, timed out, disk full, read-only, locked) fails the call with
 * StoreUnavailableError, which the API answers as 503 store_unavailable and the gateway as a
 * SystemError SENDACK. Calls that reach the store feed StoreHealth, so /health tells the truth.
 *
 * A call that times out may still complete in the backend afterwards. That is safe for a send:
 * its client was told nothing was acknowledged, and a retry with the same client_msg_no finds
 * the stored message instead of storing it twice.
 */
import { StoreUnavailableError, UnavailableError } from "../util/errors.js";
import { STORE_READS } from "./message-store.js";
import type { StoreHealth } from "./store-health.js";

export interface StoreGuardOptions {
  /** "postgres" or "sqlite", for messages. */
  backend: string;
  /** Longest a call may take before it fails with StoreUnavailableError. */
  timeoutMs: number;
  /** Told of every call that reached the store or failed because it could not. */
  health?: StoreHealth;
  /** Recognizes a backend's own errors that mean "cannot serve now" (e.g. SQLite's disk full). */
  classify?: (err: unknown) => UnavailableError | undefined;
}

/** Methods that are not requests: startup and shutdown keep their own errors and no deadline. */
const UNGUARDED = new Set<PropertyKey>(["migrate", "close", "constructor"]);

interface Pending {
  deadline: number;
  expire(): void;
}

/** Wraps every method of `store` (an object whose methods return promises) with the guard. */
export function guardStore<T extends object>(store: T, options: StoreGuardOptions): T {
  const { backend, timeoutMs, health, classify } = options;
  // One sweep for every call in flight instead of a timer per call: calls are many and short.
  const pending = new Set<Pending>();
  let sweeper: NodeJS.Timeout | undefined;
  const sweep = () => {
    const now = Date.now();
    for (const p of pending) if (p.deadline <= now) p.expire();
    if (pending.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };
  const sweepEvery = Math.max(10, Math.min(100, Math.floor(timeoutMs / 10)));

  const unavailable = (err: unknown): StoreUnavailableError | undefined => {
    if (err instanceof StoreUnavailableError) return err;
    const known = err instanceof UnavailableError ? err : classify?.(err);
    return known && new StoreUnavailableError(known.message, { cause: err });
  };

  const guarded = (name: string, fn: (...args: unknown[]) => unknown) => {
    const proves = !STORE_READS.has(name as never);
    return function guardedCall(...args: unknown[]): Promise<unknown> {
      return new Promise((resolve, reject) => {
        let settled = false;
        const entry: Pending = {
          deadline: Date.now() + timeoutMs,
          expire() {
            settle();
            const err = new StoreUnavailableError(`the ${backend} store did not answer ${name} within ${timeoutMs} ms`);
            health?.failed(err);
            reject(err);
          },
        };
        const settle = () => {
          settled = true;
          pending.delete(entry);
        };
        pending.add(entry);
        sweeper ??= setInterval(sweep, sweepEvery).unref();
        let call: Promise<unknown>;
        try {
          call = Promise.resolve(fn(...args));
        } catch (err) {
          call = Promise.reject(err);
        }
        call.then(
          (value) => {
            if (settled) return;
            settle();
            if (proves) health?.succeeded();
            resolve(value);
          },
          (err) => {
            if (settled) return;
            settle();
            const down = unavailable(err);
            if (down) health?.failed(down);
            reject(down ?? err);
          },
        );
      });
    };
  };

  const cache = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || typeof prop === "symbol") return value;
      let wrapped = cache.get(prop);
      if (!wrapped) {
        // Bound to the store itself: its methods use private fields, which a proxy does not have.
        const method = (value as (...args: unknown[]) => unknown).bind(target);
        wrapped = UNGUARDED.has(prop) ? method : guarded(prop, method);
        cache.set(prop, wrapped);
      }
      return wrapped;
    },
  });
}
