/**
 * The Presence contract, run on every backend (test/cluster/presence.test.ts). The factory gives
 * `count` instances over one fresh, empty backend (several gateway processes sharing it) and a
 * cleanup that closes them and removes what they stored. Node liveness (the node registry's word,
 * Presence.setNodeLiveness) is steered by each test through a NodeView.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { NodeLiveness, Presence, PresenceBinding } from "../../src/cluster/presence.js";
import { InvalidArgumentError, UnavailableError } from "../../src/util/errors.js";

export interface PresenceCluster {
  presences: Presence[];
  cleanup(): Promise<void>;
}

const TTL_MS = 300;
const LONG_TTL_MS = 60_000;

/** What the node registry says, as a test sets it: nodes declared dead, and the current run of restarted ones. */
class NodeView {
  private readonly dead = new Set<string>();
  private readonly runs = new Map<string, number>();
  kill(nodeId: string): void {
    this.dead.add(nodeId);
  }
  restart(nodeId: string, incarnation: number): void {
    this.runs.set(nodeId, incarnation);
  }
  readonly isNodeAlive: NodeLiveness = (nodeId, incarnation) =>
    !this.dead.has(nodeId) && (incarnation === 0 || incarnation >= (this.runs.get(nodeId) ?? 0));
}

export function binding(
  uid: string,
  nodeId: string,
  deviceFlag: number,
  epoch: number,
  connId = `${nodeId}/${uid}/${deviceFlag}/${epoch}`,
): PresenceBinding {
  return { uid, nodeId, deviceFlag, epoch, connId };
}

/** A fresh epoch and a binding with it, the way a login does it. */
async function login(p: Presence, uid: string, nodeId: string, deviceFlag: number, ttlMs = LONG_TTL_MS): Promise<PresenceBinding> {
  const b = binding(uid, nodeId, deviceFlag, await p.nextEpoch(uid));
  const result = await p.bind(b, ttlMs);
  assert.equal(result.accepted, true, `login of ${uid}/${deviceFlag} on ${nodeId} accepted`);
  return b;
}

async function bindingsOf(p: Presence, uid: string): Promise<PresenceBinding[]> {
  return (await p.lookup([uid])).get(uid) ?? [];
}

export function presenceContract(
  name: string,
  factory: (count: number) => Promise<PresenceCluster>,
  opts: { skip?: false | string } = {},
): void {
  describe(`Presence contract: ${name}`, { skip: opts.skip }, () => {
    const it = (title: string, count: number, fn: (p: Presence[], nodes: NodeView) => Promise<void>) =>
      test(title, async () => {
        const { presences, cleanup } = await factory(count);
        const nodes = new NodeView();
        for (const p of presences) p.setNodeLiveness(nodes.isNodeAlive);
        try {
          await fn(presences, nodes);
        } finally {
          await cleanup();
        }
      });

    describe("epochs", () => {
      it("nextEpoch strictly increases per uid, also across instances and concurrent calls", 2, async ([a, b]) => {
        const sequential: number[] = [];
        for (let i = 0; i < 10; i++) sequential.push(await (i % 2 ? a : b).nextEpoch("alice"));
        for (let i = 1; i < sequential.length; i++) assert.ok(sequential[i] > sequential[i - 1], `${sequential}`);
        const concurrent = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).nextEpoch("alice")));
        assert.equal(new Set(concurrent).size, 100, "no two logins share an epoch");
        assert.ok(Math.min(...concurrent) > sequential[sequential.length - 1]);
        for (const e of concurrent) assert.ok(Number.isSafeInteger(e) && e > 0);
      });
    });

    describe("bind and lookup", () => {
      it("one user on several devices and nodes, seen from another instance", 2, async ([a, b]) => {
        const phone = await login(a, "alice", "node-1", 1);
        const web = await login(b, "alice", "node-2", 2);
        assert.deepEqual(await bindingsOf(b, "alice"), [phone, web]);
        assert.deepEqual(await bindingsOf(a, "alice"), [phone, web]);
        assert.deepEqual(await bindingsOf(a, "nobody"), []);
      });

      it("lookups made at once each get exactly their own uids", 1, async ([p]) => {
        const alice = await login(p, "alice", "node-1", 1);
        const bob = await login(p, "bob", "node-2", 1);
        const [onlyAlice, both, nobody, bobTwice] = await Promise.all([
          p.lookup(["alice"]),
          p.lookup(["bob", "alice", "carol"]),
          p.lookup(["carol"]),
          p.lookup(["bob", "bob"]),
        ]);
        assert.deepEqual([...onlyAlice], [["alice", [alice]]]);
        assert.deepEqual(
          new Map(both),
          new Map([
            ["alice", [alice]],
            ["bob", [bob]],
          ]),
        );
        assert.equal(nobody.size, 0);
        assert.deepEqual([...bobTwice], [["bob", [bob]]]);
      });

      it("a second login on the same (uid, device) displaces the first and returns it", 2, async ([a, b]) => {
        const first = await login(a, "alice", "node-1", 1);
        const second = binding("alice", "node-2", 1, await b.nextEpoch("alice"));
        const result = await b.bind(second, LONG_TTL_MS);
        assert.deepEqual(result, { accepted: true, displaced: first });
        assert.deepEqual(await bindingsOf(a, "alice"), [second]);
      });

      it("a first login displaces nothing; binding the same epoch again is a refresh", 1, async ([p]) => {
        const b = binding("alice", "node-1", 1, await p.nextEpoch("alice"));
        assert.deepEqual(await p.bind(b, LONG_TTL_MS), { accepted: true });
        assert.deepEqual(await p.bind(b, LONG_TTL_MS), { accepted: true });
        assert.deepEqual(await bindingsOf(p, "alice"), [b]);
      });

      it("a stale bind (older epoch) is refused and changes nothing", 2, async ([a, b]) => {
        const older = await a.nextEpoch("alice");
        const newer = await login(b, "alice", "node-2", 1);
        const result = await a.bind(binding("alice", "node-1", 1, older), LONG_TTL_MS);
        assert.deepEqual(result, { accepted: false });
        assert.deepEqual(await bindingsOf(a, "alice"), [newer]);
      });

      it("devices are independent: a login on one never displaces another", 1, async ([p]) => {
        const d1 = await login(p, "alice", "node-1", 1);
        const result = await p.bind(binding("alice", "node-1", 2, await p.nextEpoch("alice")), LONG_TTL_MS);
        assert.deepEqual(result, { accepted: true });
        assert.equal((await bindingsOf(p, "alice")).length, 2);
        assert.deepEqual((await bindingsOf(p, "alice"))[0], d1);
      });

      it("bindings returned are copies", 1, async ([p]) => {
        const b = await login(p, "alice", "node-1", 1);
        const got = await bindingsOf(p, "alice");
        got[0].nodeId = "tampered";
        b.connId = "tampered";
        assert.equal((await bindingsOf(p, "alice"))[0].nodeId, "node-1");
        assert.equal((await bindingsOf(p, "alice"))[0].connId, "node-1/alice/1/" + b.epoch);
      });
    });

    describe("unbind", () => {
      it("removes the binding with that epoch only", 1, async ([p]) => {
        const d1 = await login(p, "alice", "node-1", 1);
        const d2 = await login(p, "alice", "node-1", 2);
        await p.unbind("alice", 1, d1.epoch);
        assert.deepEqual(await bindingsOf(p, "alice"), [d2]);
        await p.unbind("alice", 2, d2.epoch);
        assert.deepEqual(await bindingsOf(p, "alice"), []);
        await p.unbind("alice", 2, d2.epoch);
      });

      it("a stale unbind (the displaced session closing late) does not remove the newer login", 2, async ([a, b]) => {
        const old = await login(a, "alice", "node-1", 1);
        const current = await login(b, "alice", "node-2", 1);
        await a.unbind("alice", 1, old.epoch);
        assert.deepEqual(await bindingsOf(b, "alice"), [current]);
      });
    });

    describe("node liveness", () => {
      it("a binding is live while its node is: one declared dead is gone from lookup and onlineUids", 2, async ([a, b], nodes) => {
        const kept = await login(a, "alice", "node-1", 1);
        await login(a, "bob", "node-2", 1);
        await login(a, "bob", "node-1", 2);
        assert.equal((await b.lookup(["alice", "bob"])).size, 2);
        nodes.kill("node-2");
        const live = await b.lookup(["alice", "bob"]);
        assert.deepEqual(live.get("alice"), [kept]);
        assert.deepEqual(
          live.get("bob")?.map((x) => x.nodeId),
          ["node-1"],
        );
        nodes.kill("node-1");
        assert.equal((await b.lookup(["alice", "bob"])).size, 0);
        assert.deepEqual(await b.onlineUids(10), []);
      });

      it("a binding of a dead node neither fences nor is reported displaced", 1, async ([p], nodes) => {
        const older = await p.nextEpoch("alice");
        await login(p, "alice", "node-2", 1);
        nodes.kill("node-2");
        const b = binding("alice", "node-1", 1, older);
        assert.deepEqual(await p.bind(b, LONG_TTL_MS), { accepted: true });
        assert.deepEqual(await bindingsOf(p, "alice"), [b]);
      });

      it("a binding left by an earlier run of a node is dead; the new run's displaces it unreported", 2, async ([a, b], nodes) => {
        const first = { ...binding("alice", "node-1", 1, await a.nextEpoch("alice")), incarnation: 1_000 };
        assert.deepEqual(await a.bind(first, LONG_TTL_MS), { accepted: true });
        assert.deepEqual(await bindingsOf(b, "alice"), [first], "the incarnation round-trips");
        nodes.restart("node-1", 2_000);
        assert.deepEqual(await bindingsOf(b, "alice"), []);
        const second = { ...binding("alice", "node-1", 1, await b.nextEpoch("alice")), incarnation: 2_000 };
        assert.deepEqual(await b.bind(second, LONG_TTL_MS), { accepted: true });
        assert.deepEqual(await bindingsOf(a, "alice"), [second]);
      });

      it("refresh writes back only bindings that are still that node's login", 2, async ([a, b], nodes) => {
        const old = await login(a, "alice", "node-1", 1);
        const current = await login(b, "alice", "node-2", 1);
        const carol = await login(b, "carol", "node-2", 1);
        // node-1 still believes it holds alice; node-3 claims carol's binding.
        await a.refresh("node-1", [old], LONG_TTL_MS);
        await a.refresh("node-3", [carol], LONG_TTL_MS);
        assert.deepEqual(Object.fromEntries(await a.lookup(["alice", "carol"])), { alice: [current], carol: [carol] });
        nodes.kill("node-2");
        assert.equal((await a.lookup(["alice", "carol"])).size, 0, "nothing of node-1 or node-3 came back");
        assert.ok(current.epoch > old.epoch);
      });

      it("refresh writes back a binding the store lost, and a later login still wins over it", 2, async ([a, b]) => {
        const alive = await login(a, "alice", "node-1", 1, LONG_TTL_MS);
        // removeNode stands in for lost state: the node is alive and still holds the session.
        await b.removeNode("node-1");
        assert.equal((await b.lookup(["alice"])).size, 0);
        await a.refresh("node-1", [alive], LONG_TTL_MS);
        assert.deepEqual(await bindingsOf(b, "alice"), [alive], "written back by the node that holds it");
        await a.refresh("node-2", [{ ...alive, uid: "dave" }], LONG_TTL_MS);
        assert.equal((await b.lookup(["dave"])).size, 0, "a node cannot write back a binding that names another node");
        const epoch = await b.nextEpoch("alice");
        assert.ok(epoch > alive.epoch, "the epoch counter is past the restored binding");
        const newer = binding("alice", "node-2", 1, epoch);
        assert.equal((await b.bind(newer, LONG_TTL_MS)).accepted, true);
        await a.refresh("node-1", [alive], LONG_TTL_MS);
        assert.deepEqual(await bindingsOf(b, "alice"), [newer], "the stale session does not come back over a newer login");
      });

      it("refresh of many bindings at once", 1, async ([p]) => {
        const bindings = await Promise.all(Array.from({ length: 200 }, (_, i) => login(p, `user-${i}`, "node-1", 1)));
        await p.refresh("node-1", bindings, LONG_TTL_MS);
        assert.equal((await p.lookup(bindings.map((b) => b.uid))).size, 200);
        await p.removeNode("node-1");
        assert.equal((await p.lookup(bindings.map((b) => b.uid))).size, 0);
        await p.refresh("node-1", bindings, LONG_TTL_MS);
        assert.equal((await p.lookup(bindings.map((b) => b.uid))).size, 200);
      });
    });

    describe("removeNode", () => {
      it("drops every binding of that node and only those", 2, async ([a, b]) => {
        await login(a, "alice", "node-1", 1);
        const alicePc = await login(b, "alice", "node-2", 2);
        await login(a, "bob", "node-1", 1);
        const carol = await login(b, "carol", "node-2", 1);
        await b.removeNode("node-1");
        const live = await a.lookup(["alice", "bob", "carol"]);
        assert.deepEqual(Object.fromEntries(live), { alice: [alicePc], carol: [carol] });
        assert.deepEqual((await a.onlineUids(10)).sort(), ["alice", "carol"]);
        await a.removeNode("node-404");
      });

      it("a user that moved to another node is not removed with the old one", 2, async ([a, b]) => {
        await login(a, "alice", "node-1", 1);
        const moved = await login(b, "alice", "node-2", 1);
        await a.removeNode("node-1");
        assert.deepEqual(await bindingsOf(a, "alice"), [moved]);
      });
    });

    describe("lookup at scale and online users", () => {
      it("looks up 1,000 uids at once (plus unknown and repeated ones)", 2, async ([a, b]) => {
        const uids = Array.from({ length: 1000 }, (_, i) => `u${i}`);
        const bound = new Map<string, PresenceBinding>();
        for (let i = 0; i < uids.length; i += 100) {
          const chunk = await Promise.all(uids.slice(i, i + 100).map((uid, j) => login(a, uid, `node-${(i + j) % 3}`, 1)));
          for (const bnd of chunk) bound.set(bnd.uid, bnd);
        }
        const asked = [...uids, "ghost-1", "ghost-2", "u0", "u999"];
        const live = await b.lookup(asked);
        assert.equal(live.size, 1000);
        for (const uid of uids) assert.deepEqual(live.get(uid), [bound.get(uid)]);
        assert.equal(live.has("ghost-1"), false);
        assert.equal((await b.lookup([])).size, 0);
      });

      it("onlineUids lists users with a live binding, up to the limit", 2, async ([a, b], nodes) => {
        for (const uid of ["u1", "u2", "u3", "u4"]) await login(a, uid, "node-1", 1);
        await login(a, "u2", "node-2", 2);
        const gone = await login(a, "u5", "node-1", 1);
        await a.unbind("u5", 1, gone.epoch);
        await login(a, "u6", "node-3", 1);
        nodes.kill("node-3");
        assert.deepEqual((await b.onlineUids(100)).sort(), ["u1", "u2", "u3", "u4"]);
        const page = await b.onlineUids(2);
        assert.equal(page.length, 2);
        for (const uid of page) assert.ok(["u1", "u2", "u3", "u4"].includes(uid));
        assert.deepEqual(await b.onlineUids(0), []);
      });
    });

    describe("bad input and lifecycle", () => {
      it("refuses malformed arguments", 1, async ([p]) => {
        await assert.rejects(() => p.nextEpoch(""), InvalidArgumentError);
        await assert.rejects(() => p.bind(binding("", "node-1", 1, 1), TTL_MS), InvalidArgumentError);
        await assert.rejects(() => p.bind(binding("alice", "node-1", 256, 1), TTL_MS), InvalidArgumentError);
        await assert.rejects(() => p.bind(binding("alice", "node-1", 1, 0), TTL_MS), InvalidArgumentError);
        await assert.rejects(() => p.bind(binding("alice", "", 1, 1), TTL_MS), InvalidArgumentError);
        await assert.rejects(() => p.bind(binding("alice", "node-1", 1, 1), 0), InvalidArgumentError);
        await assert.rejects(() => p.unbind("alice", -1, 1), InvalidArgumentError);
        await assert.rejects(() => p.lookup(["ok", ""]), InvalidArgumentError);
        // The gateway's uid rule (util/validate.ts): at most 128 bytes, no "@", no control characters.
        await assert.rejects(() => p.lookup(["x".repeat(129)]), InvalidArgumentError);
        await assert.rejects(() => p.nextEpoch("a@b"), InvalidArgumentError);
        await assert.rejects(() => p.bind(binding("a\nb", "node-1", 1, 1), TTL_MS), InvalidArgumentError);
        await assert.rejects(() => p.onlineUids(-1), InvalidArgumentError);
        assert.deepEqual(await bindingsOf(p, "alice"), []);
      });

      it("uids with unusual characters round-trip", 1, async ([p]) => {
        const uids = ["用户", "a:b|c", "emoji 😀", "x".repeat(128), '{"json":1}'];
        const bound = await Promise.all(uids.map((uid, i) => login(p, uid, `node|${i}:x`, i)));
        const live = await p.lookup(uids);
        for (const b of bound) assert.deepEqual(live.get(b.uid), [b]);
        await p.removeNode("node|0:x");
        assert.equal((await p.lookup(uids)).size, uids.length - 1);
      });

      it("a closed instance refuses calls; the others keep working", 2, async ([a, b]) => {
        const alice = await login(a, "alice", "node-1", 1);
        await a.close();
        await assert.rejects(() => a.lookup(["alice"]), UnavailableError);
        await assert.rejects(() => a.nextEpoch("alice"), UnavailableError);
        assert.deepEqual(await bindingsOf(b, "alice"), [alice]);
      });
    });
  });
}
