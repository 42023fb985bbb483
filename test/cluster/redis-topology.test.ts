/**
 * What `--redis` names, asked of the servers: one plain Redis, or the seeds of one Redis Cluster.
 * A list mixing the two, several plain servers, or seeds none of which answer stop the start with
 * one sentence (exit code 2), before anything listens.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { detectRedisTopology } from "../../src/cluster/redis-common.js";
import { ConfigError } from "../../src/util/errors.js";
import { type RedisClusterHandle, redisClusterUnavailable, startRedisCluster } from "../helpers/redis-cluster.js";
import { freePort, serviceUrls, skipUnless } from "../helpers/services.js";

const root = new URL("../..", import.meta.url).pathname;

describe("--redis: plain Redis or Redis Cluster, detected from the servers", async () => {
  const skip = (await skipUnless("redis")) || redisClusterUnavailable();
  let cluster: RedisClusterHandle | undefined;
  before(async () => {
    if (!skip) cluster = await startRedisCluster();
  });
  after(() => cluster?.stop());

  test("one plain Redis is plain; the seeds of a cluster (one or all) are a cluster", { skip }, async () => {
    assert.deepEqual(await detectRedisTopology(serviceUrls.redis), { cluster: false });
    assert.deepEqual(await detectRedisTopology(cluster!.url), { cluster: true });
    assert.deepEqual(await detectRedisTopology(cluster!.urls[0]), { cluster: true });
  });

  test("a list mixing cluster nodes and a plain Redis is refused with a sentence", { skip }, async () => {
    await assert.rejects(detectRedisTopology(`${serviceUrls.redis},${cluster!.urls[0]}`), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /mixes Redis Cluster nodes and plain Redis servers/);
      return true;
    });
  });

  test("seeds of which none answers are refused, naming each", { skip }, async () => {
    const [a, b] = [await freePort(), await freePort()];
    await assert.rejects(detectRedisTopology(`redis://127.0.0.1:${a},redis://127.0.0.1:${b}`), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, new RegExp(`no Redis seed answered.*:${a}.*:${b}`));
      return true;
    });
  });

  test("serve with a mixed list exits 2 with one sentence, before listening", { skip }, () => {
    const run = spawnSync(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "serve", "--redis", `${serviceUrls.redis},${cluster!.urls[0]}`, "--api-port", "0"],
      { cwd: root, encoding: "utf8", timeout: 60_000, env: { ...process.env, SWITCHBOARD_CONFIG: "" } },
    );
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr.trim(), /^switchboard: --redis mixes Redis Cluster nodes and plain Redis servers: .+$/);
  });
});
