// Makes dist/policies a policy pack of its own (PulumiPolicy.yaml, package.json): the compiled rules, usable as
// `--policy-pack node_modules/drkit/dist/policies` from an installed drkit.
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const source = path.join(root, "policies");
const target = path.join(root, "dist", "policies");
if (!fs.existsSync(path.join(target, "index.js"))) throw new Error(`${target}/index.js is missing: run tsc first`);
fs.copyFileSync(path.join(source, "PulumiPolicy.yaml"), path.join(target, "PulumiPolicy.yaml"));
const pack = JSON.parse(fs.readFileSync(path.join(source, "package.json"), "utf8"));
fs.writeFileSync(path.join(target, "package.json"), `${JSON.stringify({ ...pack, main: "index.js" }, null, 2)}\n`);
