// Copy GOV.UK Frontend's compiled JS and assets out of node_modules into a git-ignored static folder.
// Nothing third-party is committed; `npm ci` runs this through the postinstall script.
import { cpSync, mkdirSync, rmSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const pkgJson = require.resolve("govuk-frontend/package.json");
const version = JSON.parse(readFileSync(pkgJson, "utf8")).version;
const dist = join(dirname(pkgJson), "dist", "govuk");
const out = new URL("../portal/static/govuk/", import.meta.url).pathname;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const f of ["govuk-frontend.min.js", "govuk-frontend.min.js.map"]) cpSync(join(dist, f), join(out, f));
cpSync(join(dist, "assets"), out, { recursive: true }); // fonts/, images/, manifest.json
writeFileSync(join(out, "VERSION"), version + "\n");
