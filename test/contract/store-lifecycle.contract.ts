/**
 * The StoreLifecycle contract (migrate, close, ping), run on every backend through
 * messageStoreContract (message-store.contract.ts).
 */
import assert from "node:assert/strict";
import { describe } from "node:test";
import type { MessageLog, StoreLifecycle } from "../../src/store/message-store.js";
import { UnavailableError } from "../../src/util/errors.js";
import { AB, type ContractOptions, G, P, type StoreCase, type StoreFactory, field, msg, storeCases } from "./store-fixtures.js";

export function storeLifecycleContract(name: string, factory: StoreFactory, opts: ContractOptions = {}): void {
  describe(`StoreLifecycle contract: ${name}`, { skip: opts.skip }, () => {
    // Every case here needs something stored (append) or read back (maxSeq) to show that
    // migrate keeps data and that close and ping act on the calls that serve it.
    const it: StoreCase<StoreLifecycle & Pick<MessageLog, "append" | "maxSeq">> = storeCases(factory);

    it("migrate is idempotent and keeps what was stored", async (store) => {
      await store.append([msg("alice", "g1", G)]);
      await store.migrate();
      assert.equal(await store.maxSeq("g1", G), 1);
      const [r] = await store.append([msg("alice", "g1", G)]);
      assert.equal(r.messageSeq, 2);
    });

    it("close lets calls in flight finish; later calls fail with UnavailableError", async (store) => {
      const pending = store.append([msg("alice", "g1", G), msg("bob", AB, P)]);
      await store.close();
      assert.deepEqual(field(await pending, "messageSeq"), [1, 1]);
      await assert.rejects(store.maxSeq("g1", G), UnavailableError);
      await assert.rejects(store.append([msg("alice", "g1", G)]), UnavailableError);
    });

    it("ping answers while the store serves, and fails with UnavailableError once it is closed", async (store) => {
      await store.ping();
      await store.ping();
      assert.equal(await store.maxSeq("g1", G), 0, "a ping stores no message");
      await store.close();
      await assert.rejects(store.ping(), UnavailableError);
    });
  });
}
