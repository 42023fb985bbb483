/**
 * The AssignmentStrategy contract, run on every strategy (test/cluster/assignment.test.ts).
 * Every strategy passes the general part; `traits` turn on what a strategy promises beyond it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AssignmentStrategy } from "../../src/cluster/assignment.js";
import type { NodeInfo } from "../../src/cluster/node-registry.js";

export interface AssignmentTraits {
  /** Same uid and same nodes (in any order, any instance) give the same node. */
  deterministic?: boolean;
  /** The result ignores the nodes' loads (checked together with determinism). */
  loadIndependent?: boolean;
  /** Adding a node moves about 1/n of the users, all to it; removing one moves only its users. */
  minimalMovement?: boolean;
  /** With loads fed back, no node exceeds ceil((1+ε)·average). */
  boundedLoad?: { epsilon: number };
  /** Successive calls walk the nodes in order. */
  roundRobin?: boolean;
  /** The least loaded node is picked. */
  leastConnections?: boolean;
}

const USERS = 30_000;
const uids = Array.from({ length: USERS }, (_, i) => `user-${i}`);

export function node(id: string, connections = 0): NodeInfo {
  const addr = { tcpAddr: `${id}:5100`, wsAddr: `ws://${id}:5200`, wssAddr: `wss://${id}:5300` };
  return { id, external: addr, intranet: addr, apiUrl: `http://${id}:5001`, connections, startedAt: 0, lastSeen: 0 };
}

const three = () => [node("node-a"), node("node-b"), node("node-c")];

function countBy(assigned: (NodeInfo | undefined)[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const n of assigned) counts.set(n!.id, (counts.get(n!.id) ?? 0) + 1);
  return counts;
}

export function assignmentContract(name: string, factory: () => AssignmentStrategy, traits: AssignmentTraits = {}): void {
  describe(`AssignmentStrategy contract: ${name}`, () => {
    test("name is the configured one", () => {
      assert.equal(factory().name, name);
    });

    test("no nodes: undefined", () => {
      assert.equal(factory().assign("alice", []), undefined);
    });

    test("always one of the given nodes (the same object)", () => {
      const s = factory();
      const one = [node("only")];
      for (let i = 0; i < 100; i++) assert.equal(s.assign(`u${i}`, one), one[0]);
      const nodes = [node("n1", 3), node("n2", 1), node("n3", 7), node("n4", 0)];
      for (let i = 0; i < 1000; i++) assert.ok(nodes.includes(s.assign(`u${i}`, nodes)!), `u${i}`);
    });

    test(`spreads ${USERS} users over 3 equal nodes within 25%..42% each`, () => {
      const s = factory();
      const nodes = three();
      const counts = countBy(uids.map((uid) => s.assign(uid, nodes)));
      assert.equal(counts.size, 3, `every node used: ${JSON.stringify([...counts])}`);
      for (const [id, n] of counts) assert.ok(n >= USERS * 0.25 && n <= USERS * 0.42, `${id} got ${n}`);
    });

    if (traits.deterministic) {
      test("same uid, same node: across calls, instances, node order and fresh NodeInfo objects", () => {
        const s = factory();
        const other = factory();
        const nodes = three();
        const reversed = [...nodes].reverse().map((n) => ({ ...n }));
        for (const uid of uids.slice(0, 3000)) {
          const id = s.assign(uid, nodes)!.id;
          assert.equal(s.assign(uid, nodes)!.id, id);
          assert.equal(other.assign(uid, reversed)!.id, id, `${uid} independent of order`);
        }
      });
    }

    if (traits.loadIndependent) {
      test("loads do not change the result", () => {
        const s = factory();
        const even = three();
        const skewed = [node("node-a", 10_000), node("node-b", 0), node("node-c", 5)];
        for (const uid of uids.slice(0, 3000)) assert.equal(s.assign(uid, skewed)!.id, s.assign(uid, even)!.id);
      });
    }

    if (traits.minimalMovement) {
      test("adding a 4th node moves about a quarter of the users, all of them to it", () => {
        const s = factory();
        const before = uids.map((uid) => s.assign(uid, three())!.id);
        const four = [...three(), node("node-d")];
        let moved = 0;
        uids.forEach((uid, i) => {
          const now = s.assign(uid, four)!.id;
          if (now !== before[i]) {
            moved++;
            assert.equal(now, "node-d", `${uid} moved between old nodes`);
          }
        });
        assert.ok(moved >= USERS * 0.15 && moved <= USERS * 0.35, `moved ${moved} of ${USERS}`);
      });

      test("removing a node moves only that node's users", () => {
        const s = factory();
        const before = uids.map((uid) => s.assign(uid, three())!.id);
        const two = [node("node-a"), node("node-c")];
        let moved = 0;
        uids.forEach((uid, i) => {
          const now = s.assign(uid, two)!.id;
          if (before[i] !== "node-b") assert.equal(now, before[i], `${uid} kept its node`);
          else moved++;
        });
        assert.ok(moved > 0);
      });
    }

    if (traits.boundedLoad) {
      const { epsilon } = traits.boundedLoad;
      test(`with loads fed back no node exceeds ceil((1+${epsilon})·average)`, () => {
        const s = factory();
        const nodes = [node("node-a"), node("node-b"), node("node-c")];
        let total = 0;
        for (const uid of uids) {
          const chosen = s.assign(uid, nodes)!;
          chosen.connections++;
          total++;
          const cap = Math.ceil(((1 + epsilon) * total) / nodes.length);
          if (chosen.connections > cap) assert.fail(`${chosen.id} has ${chosen.connections} > ${cap} after ${total} users`);
        }
      });

      test("an overloaded node gets nobody until the others catch up", () => {
        const s = factory();
        const nodes = [node("node-a", 3000), node("node-b", 0), node("node-c", 0)];
        for (const uid of uids.slice(0, 3000)) s.assign(uid, nodes)!.connections++;
        assert.equal(nodes[0].connections, 3000, "node-a took no one");
        assert.ok(Math.abs(nodes[1].connections - nodes[2].connections) <= 1500, nodes.map((n) => n.connections).join(","));
      });

      test("with equal loads a user keeps the same node as long as nothing changes", () => {
        const s = factory();
        const nodes = three();
        for (const uid of uids.slice(0, 1000)) assert.equal(s.assign(uid, nodes)!.id, s.assign(uid, [...nodes].reverse())!.id);
      });
    }

    if (traits.roundRobin) {
      test("cycles through the nodes in order", () => {
        const s = factory();
        const nodes = three();
        const got = Array.from({ length: 9 }, (_, i) => s.assign(`u${i % 2}`, nodes)!.id);
        assert.deepEqual(got, ["node-a", "node-b", "node-c", "node-a", "node-b", "node-c", "node-a", "node-b", "node-c"]);
      });
    }

    if (traits.leastConnections) {
      test("picks the node with the fewest connections", () => {
        const s = factory();
        const nodes = [node("node-a", 5), node("node-b", 2), node("node-c", 9)];
        for (let i = 0; i < 100; i++) assert.equal(s.assign(`u${i}`, nodes)!.id, "node-b");
      });

      test("with loads fed back the nodes stay within one of each other", () => {
        const s = factory();
        const nodes = three();
        for (const uid of uids.slice(0, 3000)) s.assign(uid, nodes)!.connections++;
        const loads = nodes.map((n) => n.connections);
        assert.ok(Math.max(...loads) - Math.min(...loads) <= 1, loads.join(","));
      });
    }
  });
}
