// Prints the README's configuration table from the option table (npx tsx scripts/options-markdown.ts).
import { OPTION_TABLE, type OptionSpec } from "../src/config/option-table.js";

const rows = (OPTION_TABLE as readonly OptionSpec[]).map((s) => {
  const def = Array.isArray(s.default)
    ? s.default.length
      ? s.default.join(",")
      : "(empty)"
    : s.default === undefined
      ? "—"
      : String(s.default);
  const choices = s.choices ? ` (${s.choices.map((c) => `\`${c}\``).join(", ")})` : "";
  return `| \`--${s.flag}\` | \`${s.env}\` | \`${def}\` | ${s.help}${choices} |`;
});
console.log(["| flag | env | default | meaning |", "|---|---|---|---|", ...rows].join("\n"));
