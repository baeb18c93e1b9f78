/**
 * The Keras references under .cache/ heal (test/support/references.ts): a folder whose files were
 * cut short, altered or lost, or whose reference.json is unreadable, is made again by its script,
 * with one warning, and a sound one is used as it is. A small Python script stands in for Keras's
 * (the same code path, without the minute Keras takes), in a temporary cache folder; each use runs
 * in a child process, as each test file does (a folder is verified once per process).
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT, tmpDir } from "./support/helpers";

const root = tmpDir("references");
const script = path.join(root, "make.py");
const cache = path.join(root, "cache");
const runs = path.join(root, "runs.txt");
fs.writeFileSync(
  script,
  [
    "import os, sys",
    `if os.path.exists(${JSON.stringify(path.join(root, "fail"))}): sys.exit("the script failed on purpose")`,
    `open(${JSON.stringify(runs)}, "a").write("run\\n")`,
    "out = sys.argv[1]",
    "os.makedirs(os.path.join(out, 'sub'))",
    "open(os.path.join(out, 'outputs.bin'), 'wb').write(bytes(range(256)) * 64)",
    "open(os.path.join(out, 'sub', 'table.txt'), 'w').write('layer shape\\n' * 10)",
    "",
  ].join("\n"),
);

/** ensureReference in a fresh process: its folder, warnings and error. */
function ensure(): { dir?: string; stderr: string; error?: string } {
  const spec = { name: "small", script, cache };
  const code = `
    const { ensureReference } = require(${JSON.stringify(path.join(ROOT, "test", "support", "references.ts"))});
    try { console.log(JSON.stringify({ dir: ensureReference(${JSON.stringify(spec)}) })); }
    catch (e) { console.log(JSON.stringify({ error: e.message })); }
  `;
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", code], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return { ...JSON.parse(r.stdout.trim().split("\n").pop()!), stderr: r.stderr };
}

const runCount = () => (fs.existsSync(runs) ? fs.readFileSync(runs, "utf8").split("\n").length - 1 : 0);

test("a reference folder records its files' sizes and hashes; a sound one is used without running the script", () => {
  const first = ensure();
  assert.ok(first.dir, first.error);
  assert.equal(runCount(), 1);
  const info = JSON.parse(fs.readFileSync(path.join(first.dir, "reference.json"), "utf8"));
  assert.deepEqual(Object.keys(info.files).sort(), ["outputs.bin", path.join("sub", "table.txt")]);
  assert.equal(info.files["outputs.bin"].bytes, 256 * 64);
  const again = ensure();
  assert.equal(again.dir, first.dir);
  assert.equal(runCount(), 1, "the script ran again for a sound folder");
  assert.doesNotMatch(again.stderr, /damaged/);
});

test("a damaged reference folder is made again, with one warning saying what was wrong", () => {
  const { dir } = ensure();
  assert.ok(dir);
  const original = fs.readFileSync(path.join(dir, "outputs.bin"));
  const damages: Array<[string, () => void, RegExp]> = [
    [
      "cut short",
      () => fs.truncateSync(path.join(dir, "outputs.bin"), 1000),
      /outputs\.bin has 1000 bytes where 16384 were written/,
    ],
    [
      "altered",
      () => {
        const b = Buffer.from(original);
        b[5000] ^= 1;
        fs.writeFileSync(path.join(dir, "outputs.bin"), b);
      },
      /outputs\.bin is not what was written \(its sha256 differs\)/,
    ],
    ["a file lost", () => fs.rmSync(path.join(dir, "sub", "table.txt")), /sub\/table\.txt is missing/],
    [
      "reference.json unreadable",
      () => fs.writeFileSync(path.join(dir, "reference.json"), "{ cut"),
      /its reference\.json cannot be read/,
    ],
  ];
  for (const [what, damage, why] of damages) {
    const before = runCount();
    damage();
    const r = ensure();
    assert.equal(r.dir, dir, `${what}: ${r.error}`);
    assert.equal(runCount(), before + 1, `${what}: the script did not run again`);
    const warnings = r.stderr.split("\n").filter((l) => /damaged/.test(l));
    assert.equal(warnings.length, 1, `${what}: ${r.stderr}`);
    assert.match(
      warnings[0],
      new RegExp(
        `The small references in ${dir.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} were damaged \\(.*\\); making them again\\.`,
      ),
    );
    assert.match(warnings[0], why);
    assert.deepEqual(fs.readFileSync(path.join(dir, "outputs.bin")), original, `${what}: not made again`);
    assert.ok(fs.existsSync(path.join(dir, "sub", "table.txt")), `${what}: not made again`);
    assert.deepEqual(
      fs.readdirSync(path.dirname(dir)),
      [path.basename(dir)],
      `${what}: temporary folders or locks left behind`,
    );
  }
});

test("when making a damaged reference again fails, the error names the folder and what to do", () => {
  const { dir } = ensure();
  assert.ok(dir);
  fs.truncateSync(path.join(dir, "outputs.bin"), 10);
  fs.writeFileSync(path.join(root, "fail"), "");
  try {
    const r = ensure();
    assert.equal(r.dir, undefined);
    assert.ok(
      r.error?.includes(
        `failed (exit 1) making the small references in ${dir}. Is the set-up complete (npm run setup)? If it is, delete ${path.dirname(dir)} and run the tests again.`,
      ),
      r.error,
    );
    assert.match(r.error!, /the script failed on purpose/);
  } finally {
    fs.rmSync(path.join(root, "fail"));
  }
  assert.ok(ensure().dir, "the next run makes it");
});
