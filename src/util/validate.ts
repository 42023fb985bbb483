import { InvalidArgumentError } from "./errors.js";

/** Longest uid we accept, in UTF-8 bytes (keeps keys, frames and logs bounded). */
export const MAX_UID_BYTES = 128;

/** Sender of messages posted by the server with no from_uid (WuKongIM's system uid). */
export const SYSTEM_UID = "____system";

/**
 * The one uid rule, for every uid the cluster stores or routes (the system uid included): a
 * non-empty string of at most MAX_UID_BYTES without "@" (the person-channel separator), control
 * characters or whitespace at either end. Returns the reason it is not, or undefined when it is fine.
 */
export function uidShapeProblem(uid: unknown): string | undefined {
  if (typeof uid !== "string") return "must be a string";
  if (uid.length === 0) return "must not be empty";
  if (Buffer.byteLength(uid) > MAX_UID_BYTES) return `must be at most ${MAX_UID_BYTES} bytes`;
  if (uid.includes("@")) return "must not contain '@'";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(uid)) return "must not contain control characters";
  if (uid.trim() !== uid) return "must not start or end with white space";
  return undefined;
}

/** A uid a user may hold or name: the uid rule, and not the system uid. */
export function uidProblem(uid: unknown): string | undefined {
  const problem = uidShapeProblem(uid);
  if (problem) return problem;
  // The system uid may send to any group; a user holding it would inherit that right.
  if (uid === SYSTEM_UID) return `must not be the reserved ${SYSTEM_UID}`;
  return undefined;
}

export function assertUid(uid: unknown, field = "uid"): asserts uid is string {
  const problem = uidProblem(uid);
  if (problem) throw new InvalidArgumentError(`${field} ${problem}`);
}

/** The uid rule where the system uid is fine too: the store (it sends) and presence (it is looked up). */
export function assertUidShape(uid: unknown, field = "uid"): asserts uid is string {
  const problem = uidShapeProblem(uid);
  if (problem) throw new InvalidArgumentError(`${field} ${problem}`);
}
