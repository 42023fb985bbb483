// The codec uses the Buffer global as Node has it; esbuild injects this into the browser bundle.
import { Buffer } from "buffer";

export { Buffer };
