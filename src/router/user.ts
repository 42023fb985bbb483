import { Hono } from "hono";
import type { Presence } from "../cluster/presence.js";
import type { Messenger } from "../messaging/messenger.js";
import { ReasonCode } from "../protocol/constants.js";
import type { TokenStore } from "../store/message-store.js";
import { InvalidArgumentError } from "../util/errors.js";
import { assertUid } from "../util/validate.js";
import { field, readJson, readObject } from "./body.js";

/** Most uids in one /user/onlinestatus request. */
export const ONLINE_STATUS_LIMIT = 1000;

/** WuKongIM's user endpoints: tokens for CONNECT, online status, forcing devices off. */
export function userRoutes(store: TokenStore, presence: Presence, messenger: Messenger): Hono {
  const app = new Hono();

  app.post("/user/token", async (c) => {
    const body = await readObject(c);
    const uid = field.string(body, "uid");
    assertUid(uid);
    const token = field.string(body, "token");
    const deviceFlag = field.optionalInt(body, "device_flag", 0, 0, 255);
    const deviceLevel = field.optionalInt(body, "device_level", 0, 0, 1);
    await store.setToken({ uid, token, deviceFlag, deviceLevel });
    return c.json({ status: 200 });
  });

  app.post("/user/device_quit", async (c) => {
    const body = await readObject(c);
    const uid = field.string(body, "uid");
    assertUid(uid);
    const deviceFlag = field.optionalInt(body, "device_flag", -1, -1, 255);
    const bindings = (await presence.lookup([uid])).get(uid) ?? [];
    for (const b of bindings) {
      if (deviceFlag === -1 || b.deviceFlag === deviceFlag) {
        messenger.kick(
          { nodeId: b.nodeId, uid, deviceFlag: b.deviceFlag, exceptEpoch: b.epoch + 1 },
          ReasonCode.ConnectKick,
          "device quit by the server",
        );
      }
    }
    return c.json({ status: 200 });
  });

  app.post("/user/onlinestatus", async (c) => {
    const body = await readJson(c);
    if (!Array.isArray(body)) throw new InvalidArgumentError("request body must be a JSON array of uids");
    if (body.length > ONLINE_STATUS_LIMIT) throw new InvalidArgumentError(`at most ${ONLINE_STATUS_LIMIT} uids per request`);
    body.forEach((uid, i) => assertUid(uid, `uid at index ${i}`));
    const bindings = await presence.lookup(body as string[]);
    const rows: { uid: string; device_flag: number; online: 1 }[] = [];
    for (const uid of body as string[]) for (const b of bindings.get(uid) ?? []) rows.push({ uid, device_flag: b.deviceFlag, online: 1 });
    return c.json(rows);
  });

  return app;
}
