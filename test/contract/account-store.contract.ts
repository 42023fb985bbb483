/**
 * The AccountStore contract (CIM accounts), run on every backend through messageStoreContract
 * (message-store.contract.ts).
 */
import assert from "node:assert/strict";
import { describe } from "node:test";
import type { AccountStore } from "../../src/store/message-store.js";
import { type ContractOptions, type StoreCase, type StoreFactory, storeCases } from "./store-fixtures.js";

export function accountStoreContract(name: string, factory: StoreFactory, opts: ContractOptions = {}): void {
  describe(`AccountStore contract: ${name}`, { skip: opts.skip }, () => {
    const it: StoreCase<AccountStore> = storeCases(factory);

    describe("accounts (CIM)", () => {
      it("a name gets one id, again and again, also when registered concurrently", async (store) => {
        const [a, again, ...racing] = await Promise.all([
          store.registerAccount("Ann"),
          store.registerAccount("Ann"),
          ...Array.from({ length: 5 }, () => store.registerAccount("Bo")),
        ]);
        assert.equal(again.userId, a.userId);
        assert.match(a.userId, /^\d+$/);
        assert.equal(new Set(racing.map((r) => r.userId)).size, 1, "five concurrent registrations of one name, one id");
        assert.notEqual(racing[0].userId, a.userId);
        assert.equal(a.userName, "Ann");
        assert.ok(Math.abs(a.createdAt - Date.now()) < 60_000, "created now");
        const found = await store.getAccounts([a.userId, racing[0].userId, "999999999", a.userId]);
        assert.deepEqual(found.map((x) => x.userName).sort(), ["Ann", "Bo"]);
        assert.deepEqual(await store.getAccounts([]), []);
      });

      it("bad names are refused", async (store) => {
        for (const bad of ["", "x".repeat(65), "a\u0000b", "tab\there"]) {
          await assert.rejects(store.registerAccount(bad), /userName must be/, JSON.stringify(bad));
        }
      });

      it("a login's route is saved on the account, replaced by the next, cleared by offLine", async (store) => {
        const a = await store.registerAccount("Cy");
        assert.equal(a.route, null, "a new account has no route");
        const before = Date.now();
        assert.equal(await store.setAccountRoute(a.userId, "node-2"), true);
        const [routed] = await store.getAccounts([a.userId]);
        assert.equal(routed.route?.nodeId, "node-2");
        assert.ok(routed.route && routed.route.at >= before && routed.route.at <= Date.now(), "stamped with the login time");
        assert.deepEqual((await store.registerAccount("Cy")).route, routed.route, "registering again keeps the route");
        await store.setAccountRoute(a.userId, "node-1");
        assert.equal((await store.getAccounts([a.userId]))[0].route?.nodeId, "node-1");
        assert.equal(await store.setAccountRoute(a.userId, null), true);
        assert.deepEqual(await store.getAccounts([a.userId]), [{ ...a, route: null }]);
        assert.equal(await store.setAccountRoute("424242", "node-1"), false, "no such account");
        await assert.rejects(store.setAccountRoute("", "node-1"), /userId must be/);
        await assert.rejects(store.setAccountRoute(a.userId, ""), /nodeId must be/);
        await assert.rejects(store.setAccountRoute(a.userId, "a\u0000b"), /nodeId must not contain NUL/);
      });
    });
  });
}
