/**
 * What the store contract suites share (test/contract/*-store.contract.ts, message-log.contract.ts,
 * store-lifecycle.contract.ts): the factory shape, how a case gets its store, message builders and
 * small assertion helpers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ChannelType, personChannelId } from "../../src/store/channel-id.js";
import type {
  AppendInput,
  AppendResult,
  Conversation,
  ConversationStore,
  MessageStore,
  StoredMessage,
} from "../../src/store/message-store.js";

/** A backend under test: the full MessageStore, whichever interface a suite checks. */
export interface StoreUnderTest {
  store: MessageStore;
  cleanup(): Promise<void>;
}

/** Gives a fresh store over empty storage, not yet migrated. */
export type StoreFactory = () => Promise<StoreUnderTest>;

export interface ContractOptions {
  skip?: false | string;
}

/** Registers one case: `fn` gets a fresh, migrated store, seen as S. */
export type StoreCase<S> = (title: string, fn: (store: S) => Promise<void>) => void;

/**
 * The case runner of a suite. Every case gets its own store from `factory`, migrated; cleanup runs
 * whatever the outcome. It is typed for the full MessageStore, and a StoreCase<MessageStore> is
 * also a StoreCase<S> for every interface S that MessageStore extends, so a suite assigns it to
 * `StoreCase<ItsInterface>` and its case bodies can call only that interface's methods. A case
 * that needs more (messages to exist, say) uses a runner typed with exactly what it adds.
 */
export function storeCases(factory: StoreFactory): StoreCase<MessageStore> {
  return (title, fn) =>
    test(title, async () => {
      const { store, cleanup } = await factory();
      try {
        await store.migrate();
        await fn(store);
      } finally {
        await cleanup();
      }
    });
}

export const P = ChannelType.Person;
export const G = ChannelType.Group;
export const AB = personChannelId("alice", "bob");
export const AC = personChannelId("alice", "carol");
export const T0 = 1_700_000_000;

/** How many messages msg() has built; part of every clientMsgNo, payload and timestamp. */
export let counter = 0;
/** A message with a unique clientMsgNo and a payload naming it, so reads can be checked. */
export function msg(fromUid: string, channelId: string, channelType: number, over: Partial<AppendInput> = {}): AppendInput {
  counter++;
  return {
    fromUid,
    channelId,
    channelType,
    clientMsgNo: `cmn-${counter}`,
    header: { noPersist: false, redDot: true, syncOnce: false },
    setting: 0,
    expire: 0,
    topic: "",
    payload: new TextEncoder().encode(`${channelId}#${counter}`),
    timestamp: T0 + counter,
    ...over,
  };
}

export function assertBytes(actual: Uint8Array, expected: Uint8Array, what = "payload"): void {
  assert.ok(actual instanceof Uint8Array, `${what} is a Uint8Array`);
  assert.equal(actual.byteLength, expected.byteLength, `${what} length`);
  assert.equal(Buffer.compare(Buffer.from(actual), Buffer.from(expected)), 0, `${what} bytes`);
}

export const seqsOf = (ms: StoredMessage[]) => ms.map((m) => m.messageSeq);
/** One field of each item, so expectations fit on a line. */
export const field = <T, K extends keyof T>(items: T[], key: K): T[K][] => items.map((item) => item[key]);
/** Append results as "seq" or "seq dup". */
export const outcomes = (rs: AppendResult[]) => rs.map((r) => `${r.messageSeq}${r.duplicate ? " dup" : ""}`);
export const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** The user's conversation in one channel, or undefined when there is none. */
export async function conv(
  store: Pick<ConversationStore, "syncConversations">,
  uid: string,
  channelId: string,
  channelType: number,
): Promise<Conversation | undefined> {
  const all = await store.syncConversations({ uid, version: 0, msgCount: 0 });
  return all.find((c) => c.channelId === channelId && c.channelType === channelType);
}
