import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { STRATEGY_NAMES, type StrategyName } from "../../src/cluster/assignment.js";
import { murmur3, murmur3Bytes } from "../../src/cluster/hash32.js";
import { ConsistentHashStrategy, DEFAULT_LOAD_EPSILON, HashRing, createStrategy } from "../../src/cluster/strategies.js";
import { ConfigError, InvalidArgumentError } from "../../src/util/errors.js";
import { type AssignmentTraits, assignmentContract, node } from "../contract/assignment.contract.js";

/** A small seeded PRNG (mulberry32), so the random strategy's runs are reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const traits: Record<StrategyName, AssignmentTraits> = {
  "consistent-hash": { deterministic: true, loadIndependent: true, minimalMovement: true },
  "bounded-hash": { boundedLoad: { epsilon: DEFAULT_LOAD_EPSILON } },
  "round-robin": { roundRobin: true },
  random: {},
  "least-connections": { leastConnections: true },
};

for (const name of STRATEGY_NAMES) {
  assignmentContract(name, () => createStrategy(name, { random: seeded(42) }), traits[name]);
}
// Bounded loads with a tighter ε, and with equal loads it is plain consistent hashing.
assignmentContract("bounded-hash", () => createStrategy("bounded-hash", { epsilon: 0.1 }), { boundedLoad: { epsilon: 0.1 } });

describe("assignment internals", () => {
  test("murmur3 matches the reference vectors", () => {
    assert.equal(murmur3(""), 0);
    assert.equal(murmur3("", 1), 0x514e28b7);
    assert.equal(murmur3("hello"), 0x248bfa47);
    assert.equal(murmur3("The quick brown fox jumps over the lazy dog"), 0x2e4ff723);
    assert.equal(murmur3("héllo"), murmur3Bytes(Buffer.from("héllo")));
  });

  test("murmur3 is a 32-bit unsigned integer for any string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 600 }), (s) => {
        const h = murmur3(s);
        return Number.isInteger(h) && h >= 0 && h <= 0xffffffff && h === murmur3Bytes(Buffer.from(s, "utf8"));
      }),
    );
  });

  test("a ring has virtualNodes points per node, sorted", () => {
    const ring = new HashRing(["a", "b", "c"], 160);
    assert.equal(ring.points.length, 480);
    for (let i = 1; i < ring.points.length; i++) assert.ok(ring.points[i - 1] <= ring.points[i]);
    for (const owner of [0, 1, 2]) assert.equal(ring.owners.filter((o) => o === owner).length, 160);
  });

  test("locate finds the first point at or after a hash, wrapping past the last", () => {
    const ring = new HashRing(["a", "b", "c"], 160);
    const last = ring.points[ring.points.length - 1];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (h) => {
        const i = ring.locate(h);
        if (h > last) return i === 0;
        return ring.points[i] >= h && (i === 0 || ring.points[i - 1] < h);
      }),
    );
    assert.equal(ring.locate(ring.points[5]), ring.points[4] === ring.points[5] ? 4 : 5);
  });

  test("with equal loads bounded-hash agrees with consistent-hash", () => {
    const plain = new ConsistentHashStrategy();
    const bounded = createStrategy("bounded-hash");
    const nodes = [node("node-a"), node("node-b"), node("node-c")];
    // Loads stay equal (not fed back), so no node is ever over capacity.
    for (let i = 0; i < 2000; i++) assert.equal(bounded.assign(`u${i}`, nodes), plain.assign(`u${i}`, nodes));
  });

  test("duplicate ids in the node list are tolerated", () => {
    const s = createStrategy("consistent-hash");
    const a = node("node-a");
    const nodes = [a, node("node-b"), { ...a }];
    for (let i = 0; i < 200; i++) assert.ok(nodes.includes(s.assign(`u${i}`, nodes)!));
  });

  test("the random strategy uses its source of randomness", () => {
    const nodes = [node("node-a"), node("node-b"), node("node-c")];
    assert.equal(createStrategy("random", { random: () => 0 }).assign("x", nodes)!.id, "node-a");
    assert.equal(createStrategy("random", { random: () => 0.9999 }).assign("x", nodes)!.id, "node-c");
  });

  test("bad options and unknown names are refused", () => {
    assert.throws(() => createStrategy("nope" as StrategyName), ConfigError);
    assert.throws(() => createStrategy("consistent-hash", { virtualNodes: 0 }), InvalidArgumentError);
    assert.throws(() => createStrategy("bounded-hash", { epsilon: -1 }), InvalidArgumentError);
  });
});
