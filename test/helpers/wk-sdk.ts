/**
 * The real WuKongIM JS SDK from npm (wukongimjssdk 1.0.4, protocol v2), loaded in Node. It ships
 * extensionless ESM and is a singleton per module instance, so it is bundled once with esbuild and
 * each user gets a fresh module instance (a distinct import URL). The SDK expects a browser
 * WebSocket: the `ws` package stands in for it.
 */
import { randomUUID } from "node:crypto";
import { unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import WebSocket from "ws";

/** The SDK's own entry points, reached past its index (which re-exports without extensions). */
const ENTRY = `
export { default as WKSDK } from "wukongimjssdk/lib/index";
export { MessageText, Channel } from "wukongimjssdk/lib/model";
export { ConnectStatus } from "wukongimjssdk/lib/connect_manager";
export { default as Proto, RecvackPacket, SubPacket } from "wukongimjssdk/lib/proto";
export { SecurityManager } from "wukongimjssdk/lib/security";
export { Md5 } from "md5-typescript";
`;

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** Bundle the SDK into a temp .mjs file; the caller removes it when done. */
export async function bundleSdk(): Promise<string> {
  const result = await build({
    stdin: { contents: ENTRY, resolveDir: repoRoot, loader: "js" },
    bundle: true,
    platform: "node",
    format: "esm",
    write: false,
    logLevel: "silent",
    // Its CommonJS dependencies (crypto-js) call require(); give them a real one.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  const path = join(tmpdir(), `switchboard-wk-sdk-${process.pid}-${randomUUID()}.mjs`);
  writeFileSync(path, result.outputFiles[0].contents);
  return path;
}

export interface SdkMessage {
  messageID: string;
  messageSeq: number;
  fromUID: string;
  clientMsgNo: string;
  channel: { channelID: string; channelType: number };
  content: { text?: string };
}

/** The slice of the SDK the tests drive (it ships no types usable from here). */
export interface SdkInstance {
  config: { uid: string; token: string; addr: string; protoVersion: number; deviceFlag?: number };
  connect(): void;
  disconnect(): void;
  connectManager: { status: number; addConnectStatusListener(l: (status: number, reason: number) => void): void };
  chatManager: {
    send(content: object, channel: object): Promise<{ messageID: string; messageSeq: number; clientMsgNo: string }>;
    addMessageListener(l: (m: SdkMessage) => void): void;
    addMessageStatusListener(l: (ack: { clientSeq: number; messageID: string; messageSeq: number; reasonCode: number }) => void): void;
  };
  receiptManager: { timer: ReturnType<typeof setInterval> };
}

export interface SdkModule {
  WKSDK: { shared(): SdkInstance };
  MessageText: new (text: string) => object;
  Channel: new (id: string, type: number) => object;
  ConnectStatus: Record<string, number>;
}

/** Loads fresh SDK copies from one bundle; dispose() removes the bundle file. */
export class SdkLoader {
  private path: Promise<string> | undefined;
  private instances = 0;

  /** A fresh, independent copy of the SDK (its own singleton). */
  async load(): Promise<SdkModule> {
    const globals = globalThis as { WebSocket?: unknown };
    globals.WebSocket ??= WebSocket;
    this.path ??= bundleSdk();
    const path = await this.path;
    this.instances++;
    return (await import(`${pathToFileURL(path).href}?instance=${this.instances}`)) as SdkModule;
  }

  async dispose(): Promise<void> {
    if (this.path) unlinkSync(await this.path);
  }
}
