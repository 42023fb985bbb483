/**
 * The MessageStore contract: every interface's suite, run on one backend
 * (test/store/message-store-*.test.ts). Each suite's factory gives a fresh full backend over empty
 * storage, not yet migrated; each case migrates it. The suites live one per interface:
 * store-lifecycle, message-log, channel-store, conversation-store, token-store, account-store
 * (.contract.ts), with their shared helpers in store-fixtures.ts.
 */
import { accountStoreContract } from "./account-store.contract.js";
import { channelStoreContract } from "./channel-store.contract.js";
import { conversationStoreContract } from "./conversation-store.contract.js";
import { messageLogContract } from "./message-log.contract.js";
import type { ContractOptions, StoreFactory } from "./store-fixtures.js";
import { storeLifecycleContract } from "./store-lifecycle.contract.js";
import { tokenStoreContract } from "./token-store.contract.js";

export { assertBytes, msg, type StoreUnderTest } from "./store-fixtures.js";

/** Runs every store interface's contract suite on one backend. */
export function messageStoreContract(name: string, factory: StoreFactory, opts: ContractOptions = {}): void {
  storeLifecycleContract(name, factory, opts);
  messageLogContract(name, factory, opts);
  channelStoreContract(name, factory, opts);
  conversationStoreContract(name, factory, opts);
  tokenStoreContract(name, factory, opts);
  accountStoreContract(name, factory, opts);
}
