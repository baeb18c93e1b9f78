/**
 * The TensorFlow.js loader on the Node.js it runs on: tfjs-node 4.22 calls two `util` functions
 * that Node 22 deprecates and Node 23 removed; the loader supplies them (src/tfjs/backend.ts).
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT } from "./support/helpers";

test("TF.js ops run on this Node with no deprecation warning, through every tfjs-node path that calls Node's util", () => {
  // --throw-deprecation turns a deprecation warning into an exception: the run must still succeed.
  // add: createTensorsTypeOpAttr (isNullOrUndefined); addN / concat: a list of tensors (isArray);
  // topk: kernels/TopK.js (isNullOrUndefined on k and sorted).
  const script = `
    const { tf } = require("./src/tfjs/backend");
    const a = tf.tensor1d([1, 3, 2]);
    const results = [
      tf.add(a, 1).arraySync(),
      tf.addN([a, a]).arraySync(),
      tf.concat([a, a]).arraySync(),
      tf.topk(a, 2).values.arraySync(),
      tf.topk(a).indices.arraySync(),
    ];
    console.log(JSON.stringify({ backend: tf.getBackend(), node: process.version, results }));
  `;
  const run = spawnSync(process.execPath, ["--throw-deprecation", "--import", "tsx", "-e", script], {
    cwd: ROOT,
    encoding: "utf8",
  });
  assert.equal(run.status, 0, run.stderr);
  assert.doesNotMatch(run.stderr, /DeprecationWarning|DEP00/, run.stderr);
  const out = JSON.parse(run.stdout.trim().split("\n").pop()!);
  assert.equal(out.backend, "tensorflow");
  assert.equal(out.node, process.version);
  assert.deepEqual(out.results, [[2, 4, 3], [2, 6, 4], [1, 3, 2, 1, 3, 2], [3, 2], [1]]);
});

/** `util.<member>` uses in a file that binds Node's util module (`var util_1 = require("util")`, `this.util = require('util')`). */
function utilMembers(source: string): string[] {
  const members = new Set<string>();
  const binding =
    /(?:var|let|const)\s+(\w+)\s*=\s*require\(\s*["'](?:node:)?util["']\s*\)|this\.(\w+)\s*=\s*require\(\s*["'](?:node:)?util["']\s*\)/g;
  for (const m of source.matchAll(binding)) {
    const name = m[1] ? `\\b${m[1]}` : `\\bthis\\.${m[2]}`;
    for (const use of source.matchAll(new RegExp(`${name}\\.(\\w+)`, "g"))) members.add(use[1]);
  }
  return [...members];
}

test("the installed TF.js packages use no other member of Node's util than those reviewed: current ones, and the two the loader supplies", () => {
  // What Node has not deprecated, and the loader's two. A new TF.js version that calls anything else
  // fails here: check it against Node's deprecations (https://nodejs.org/api/deprecations.html).
  const reviewed = new Set(["promisify", "types", "TextEncoder", "TextDecoder", "isNullOrUndefined", "isArray"]);
  const tfjsDir = path.join(ROOT, "node_modules", "@tensorflow");
  const found = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules") walk(p);
      } else if (
        entry.name.endsWith(".js") &&
        !entry.name.endsWith("_test.js") &&
        !p.includes(`${path.sep}scripts${path.sep}`)
      ) {
        for (const member of utilMembers(fs.readFileSync(p, "utf8"))) {
          found.set(member, [...(found.get(member) ?? []), path.relative(tfjsDir, p)]);
        }
      }
    }
  };
  for (const pkg of fs.readdirSync(tfjsDir)) walk(path.join(tfjsDir, pkg, "dist"));
  assert.ok(
    found.has("isNullOrUndefined"),
    "the scan should find tfjs-node's util.isNullOrUndefined (is the scan broken?)",
  );
  const unreviewed = [...found].filter(([member]) => !reviewed.has(member));
  assert.deepEqual(unreviewed, [], "TF.js uses members of Node's util that were not reviewed");
  // Each one is a function or object of util on this Node once the loader has run.
  require("../src/tfjs/backend");
  const util = require("node:util") as Record<string, unknown>;
  for (const member of found.keys())
    assert.ok(util[member] !== undefined, `util.${member} is missing on Node ${process.version}`);
  const isNullOrUndefined = util.isNullOrUndefined as (v: unknown) => boolean;
  assert.deepEqual([null, undefined, 0, "", false, NaN, {}].map(isNullOrUndefined), [
    true,
    true,
    false,
    false,
    false,
    false,
    false,
  ]);
  assert.equal(util.isArray, Array.isArray);
});
