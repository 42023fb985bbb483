/**
 * Size and reporting for the fault suite. FAULT_SCALE=ci (default: small, quick, part of `npm test`)
 * or full (`npm run test:faults`). Each scenario reports its counts as a test diagnostic and, when
 * FAULT_REPORT names a file, as one JSON line there (scripts/run-faults.mjs prints them as a table).
 */
import { appendFileSync } from "node:fs";
import type { TestContext } from "node:test";

export type FaultScale = "ci" | "full";

export const SCALE: FaultScale = process.env.FAULT_SCALE === "full" ? "full" : "ci";

/** The ci or the full value. */
export function scaled<T>(ci: T, full: T): T {
  return SCALE === "full" ? full : ci;
}

export type Figures = Record<string, number | string | boolean>;

export function report(t: TestContext, scenario: string, figures: Figures): void {
  const line = Object.entries(figures)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  t.diagnostic(`[${SCALE}] ${scenario}: ${line}`);
  const file = process.env.FAULT_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify({ scenario, scale: SCALE, at: new Date().toISOString(), ...figures })}\n`);
}

/** The p-th percentile (0..100) of `values` (nearest rank); 0 for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function mib(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}
