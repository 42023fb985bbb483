// node:buffer for the browser bundle of the client SDK: the `buffer` package plus isUtf8.
import { Buffer } from "buffer";

const strict = new TextDecoder("utf-8", { fatal: true });

export function isUtf8(bytes) {
  try {
    strict.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

export { Buffer };
