import { LATEST_VERSION, MAX_CODEC_VERSION, MIN_VERSION, Setting } from "./constants.js";
import { headerError } from "./errors.js";

/** Throws unless the codec can speak `version` (2..6; we negotiate at most LATEST_VERSION). */
export function checkVersion(version: number): void {
  if (!Number.isInteger(version) || version < MIN_VERSION || version > MAX_CODEC_VERSION) {
    throw headerError(`protocol version ${version} is not supported (${MIN_VERSION}-${MAX_CODEC_VERSION})`);
  }
}

/**
 * The version a connection runs at, from CONNECT's version byte: min(requested, latest), and 0
 * means "latest" (WuKongIM rule). The result may be below MIN_VERSION: the caller refuses those.
 */
export function negotiateVersion(requested: number, latest: number = LATEST_VERSION): number {
  return requested === 0 ? latest : Math.min(requested, latest);
}

/** SEND/RECV stream fields exist only in versions 2..4 (5 dropped them), and only when Setting.Stream is set. */
export function hasStreamFields(version: number, setting: number): boolean {
  return version >= 2 && version < 5 && (setting & Setting.Stream) !== 0;
}
