import assert from "node:assert/strict";
import { ProtocolError, type ReasonCode } from "../../src/protocol/index.js";

/** assert.throws matcher: a ProtocolError, with the given reason when one is given. */
export function protocolError(reason?: ReasonCode, message?: RegExp): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${String(err)}`);
    assert.equal(err.name, "ProtocolError");
    if (reason !== undefined) assert.equal(err.reason, reason, `reason of "${err.message}"`);
    if (message) assert.match(err.message, message);
    return true;
  };
}
