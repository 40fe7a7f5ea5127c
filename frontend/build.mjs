// Bundles src/main.tsx into dist/ with content-hashed names and writes dist/index.html.
// Why esbuild directly: one dependency, a 1-second build, and nothing to configure for a
// single-page app that the head serves itself.
import * as esbuild from "esbuild";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "dist");
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });

const result = await esbuild.build({
  entryPoints: [join(here, "src/main.tsx")],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: join(out, "assets"),
  entryNames: "[name]-[hash]",
  metafile: true,
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
});

const files = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = files.find((f) => f.endsWith(".js"));
const css = files.find((f) => f.endsWith(".css"));
const html = readFileSync(join(here, "index.html"), "utf8")
  .replace("<!--CSS-->", css ? `<link rel="stylesheet" href="/assets/${css}">` : "")
  .replace("<!--JS-->", `<script type="module" src="/assets/${js}"></script>`);
writeFileSync(join(out, "index.html"), html);

// The flame-graph viewer: speedscope's own release build, vendored from npm (pinned in package.json)
// and served by the head at /speedscope/ from its own origin, so it fetches nothing external.
// Its sample profile and JSON schema are left out: nothing links them.
const speedscope = dirname(createRequire(import.meta.url).resolve("speedscope/package.json"));
cpSync(join(speedscope, "dist", "release"), join(out, "speedscope"), {
  recursive: true,
  filter: (src) => !/\.(txt|json)$/.test(src) || src.endsWith("release.txt"),
});
cpSync(join(speedscope, "LICENSE"), join(out, "speedscope", "LICENSE"));

let gz = 0;
for (const f of files) gz += gzipSync(readFileSync(join(out, "assets", f))).length;
console.log(`frontend: built ${files.join(", ")} (${(gz / 1024).toFixed(1)} KiB gzipped)`);
