// Bundles the client SDK for browsers into web/dist/switchboard-client.js (run by `npm run build`).
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
await build({
  entryPoints: [`${root}src/client/index.ts`],
  outfile: `${root}web/dist/switchboard-client.js`,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  sourcemap: true,
  minify: true,
  alias: { "node:buffer": `${root}web/shims/node-buffer.js` },
  inject: [`${root}web/shims/buffer-global.js`],
  logLevel: "warning",
});
