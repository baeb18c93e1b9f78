#!/usr/bin/env node
// Which Node.js the set-up runs on, and whether that line is one the project is tested on.
//   node kernel-setup/check-node.js [version]
// prints one line on stderr and exits 1 when the version cannot run the project (too old).
// The version defaults to the running Node's; passing one is for the tests.
"use strict";

// Keep in step with README.md ("What they need") and .ci/run (NODE_LINES).
const TESTED = [22, 24, 26];
const TESTED_TEXT = "22 (from 22.12), 24 or 26";

/** [level, text] for a Node version: level "error" (cannot run), "warning" (untested) or "ok". */
function verdict(version) {
  const [maj, min] = version.split(".").map(Number);
  if (maj < 20 || (maj === 20 && min < 19) || (maj === 22 && min < 12)) {
    // The kernel require()s @observablehq/plot, an ES module: 20.19 and 22.12 were the first
    // releases of their lines to do that without a flag.
    return ["error", `too old: the notebooks need require() of ES modules. Use Node ${TESTED_TEXT}.`];
  }
  if (TESTED.includes(maj)) return ["ok", "a tested line"];
  if (maj === 20) {
    return [
      "warning",
      `Node 20 reached its end of life in April 2026 and is no longer tested here (it is expected to work). Use Node ${TESTED_TEXT}.`,
    ];
  }
  if (maj < TESTED[TESTED.length - 1]) {
    return ["warning", `an odd-numbered, short-lived line, not tested here. Use Node ${TESTED_TEXT}.`];
  }
  return ["warning", `newer than the lines tested here (${TESTED_TEXT}); if anything fails, use Node 24 or 26.`];
}

const version = (process.argv[2] || process.versions.node).replace(/^v/, "");
const [level, text] = verdict(version);
const where = process.argv[2] ? "" : ` (${process.execPath})`;
console.error(`[setup] ${level === "ok" ? "" : `${level}: `}Node ${version}${where}: ${text}`);
process.exit(level === "error" ? 1 : 0);
