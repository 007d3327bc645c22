#!/usr/bin/env node
// Runs the compiled CLI when the package is built (as published), else the TypeScript sources via tsx.
const fs = require("node:fs");
const path = require("node:path");
const compiled = path.join(__dirname, "..", "dist", "cli", "main.js");
if (fs.existsSync(compiled)) {
  require(compiled).main(process.argv);
} else {
  require("tsx/cjs");
  require(path.join(__dirname, "..", "cli", "main.ts")).main(process.argv);
}
