import type { Context } from "hono";
import { InvalidArgumentError } from "../util/errors.js";

/** Reads the request body as JSON; anything unparsable is a 400 that says so. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim().length === 0) throw new InvalidArgumentError("request body is empty: expected JSON");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Reads a JSON object body. */
export async function readObject(c: Context): Promise<Record<string, unknown>> {
  const body = await readJson(c);
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new InvalidArgumentError("request body must be a JSON object");
  return body as Record<string, unknown>;
}

/** Field readers with clear messages; `optional` variants return the default when absent or null. */
export const field = {
  string(obj: Record<string, unknown>, key: string): string {
    const v = obj[key];
    if (typeof v !== "string" || v.length === 0) throw new InvalidArgumentError(`${key} must be a non-empty string`);
    return v;
  },
  optionalString(obj: Record<string, unknown>, key: string, def = ""): string {
    const v = obj[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== "string") throw new InvalidArgumentError(`${key} must be a string`);
    return v;
  },
  int(obj: Record<string, unknown>, key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const v = obj[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
      throw new InvalidArgumentError(`${key} must be a whole number from ${min} to ${max}`);
    return v;
  },
  optionalInt(obj: Record<string, unknown>, key: string, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const v = obj[key];
    if (v === undefined || v === null) return def;
    return field.int(obj, key, min, max);
  },
  optionalBool(obj: Record<string, unknown>, key: string, def = false): boolean {
    const v = obj[key];
    if (v === undefined || v === null) return def;
    if (typeof v === "boolean") return v;
    if (v === 0 || v === 1) return v === 1;
    throw new InvalidArgumentError(`${key} must be true/false or 0/1`);
  },
  stringArray(obj: Record<string, unknown>, key: string, max: number): string[] {
    const v = obj[key];
    if (!Array.isArray(v)) throw new InvalidArgumentError(`${key} must be an array of strings`);
    if (v.length > max) throw new InvalidArgumentError(`${key} has ${v.length} entries; at most ${max}`);
    v.forEach((s, i) => {
      if (typeof s !== "string" || s.length === 0) throw new InvalidArgumentError(`${key}[${i}] must be a non-empty string`);
    });
    return v as string[];
  },
};

/** `?intranet=0|1` (absent = 0). */
export function intranetParam(c: Context): boolean {
  const v = c.req.query("intranet");
  if (v === undefined || v === "" || v === "0") return false;
  if (v === "1") return true;
  throw new InvalidArgumentError("intranet must be 0 or 1");
}
