/**
 * The TokenStore contract, run on every backend through messageStoreContract
 * (message-store.contract.ts).
 */
import assert from "node:assert/strict";
import { describe } from "node:test";
import type { TokenStore } from "../../src/store/message-store.js";
import { type ContractOptions, type StoreCase, type StoreFactory, storeCases } from "./store-fixtures.js";

export function tokenStoreContract(name: string, factory: StoreFactory, opts: ContractOptions = {}): void {
  describe(`TokenStore contract: ${name}`, { skip: opts.skip }, () => {
    const it: StoreCase<TokenStore> = storeCases(factory);

    describe("tokens", () => {
      it("set, get and overwrite per (uid, deviceFlag)", async (store) => {
        assert.equal(await store.getToken("alice", 0), undefined);
        await store.setToken({ uid: "alice", deviceFlag: 0, token: "t-app", deviceLevel: 1 });
        await store.setToken({ uid: "alice", deviceFlag: 1, token: "t-web", deviceLevel: 0 });
        assert.deepEqual(await store.getToken("alice", 0), { uid: "alice", deviceFlag: 0, token: "t-app", deviceLevel: 1 });
        await store.setToken({ uid: "alice", deviceFlag: 0, token: "t-app-2", deviceLevel: 0 });
        assert.deepEqual(await store.getToken("alice", 0), { uid: "alice", deviceFlag: 0, token: "t-app-2", deviceLevel: 0 });
        assert.deepEqual(await store.getToken("alice", 1), { uid: "alice", deviceFlag: 1, token: "t-web", deviceLevel: 0 });
        assert.equal(await store.getToken("bob", 0), undefined);
      });
    });
  });
}
