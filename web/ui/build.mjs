// Builds the editor bundle into dist/ (committed, embedded by the Go server).
// The output depends only on the sources and the locked package versions, so
// CI can rebuild and compare: `npm ci && npm run build && git diff --exit-code dist`.
//
//   node build.mjs          build dist/folio.js and dist/folio.css
//   node build.mjs --test   bundle test/*.test.ts to a temp dir and run them with node --test
import * as esbuild from "esbuild";
import { readdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

const common = { bundle: true, logLevel: "warning", legalComments: "eof", charset: "utf8" };

if (process.argv.includes("--test")) {
  const out = mkdtempSync(join(tmpdir(), "folio-ui-test-"));
  try {
    const entries = readdirSync("test").filter((f) => f.endsWith(".test.ts")).map((f) => join("test", f));
    await esbuild.build({ ...common, entryPoints: entries, outdir: out, platform: "node", format: "esm",
      outExtension: { ".js": ".mjs" }, target: "node20" });
    const files = readdirSync(out).map((f) => join(out, f));
    const r = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit" });
    process.exitCode = r.status ?? 1;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
} else {
  await esbuild.build({
    ...common,
    entryPoints: ["src/folio.ts", "src/folio.css"],
    outdir: "dist",
    minify: true,
    format: "iife",
    target: ["es2020", "chrome100", "firefox100", "safari15"],
    sourcemap: false,
  });
}
