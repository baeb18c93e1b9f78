/**
 * The tests CI runs on the Node lines other than the one that runs the whole suite (`npm run
 * test:lines`; .ci/run runs it after a set-up from nothing in a fresh clone). They cover what
 * depends on the Node version: the TensorFlow.js loader and the native addon, both engines training
 * both bases, a notebook in the kernel (tslab on this Node importing ./src, top-level await, inline
 * SVG), and the .keras round trip. Each is the lightest test that covers its part; the whole suite
 * runs the heavier ones on the main line.
 *
 * The tutorial notebooks in JupyterLab, in Chromium, run on the main line only: what in them depends
 * on the Node version is the kernel and the module it imports, which the kernel notebook and the
 * training tests here cover; JupyterLab and Chromium are the same on every line. A tutorial notebook
 * took 127–142 s of each other line's six or seven minutes in CI, run beside the main line's suite on
 * the same two cores.
 *
 * Each entry is a test file and a pattern of test names; an entry whose pattern matches no test
 * fails the run, so that renaming a test cannot quietly drop it from this list.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { ROOT } from "./helpers";

const LINES: Array<{ file: string; pattern: string; what: string }> = [
  {
    file: "backend.test.ts",
    pattern: ".",
    what: "the TF.js loader on this Node: every op path, no deprecation warning",
  },
  {
    file: "setup.test.ts",
    pattern: ".",
    what: "native TensorFlow, a notebook in the kernel on the set-up's Node, the Node check",
  },
  {
    file: "graph_engine.test.ts",
    pattern: "one step from the same weights",
    what: "both engines training both bases (one step each from the same weights, compared)",
  },
  {
    file: "keras_archive.test.ts",
    pattern: "save then loadTransferModel",
    what: "the .keras round trip",
  },
];

const started = Date.now();
const results: string[] = [];
let failed = false;
for (const { file, pattern, what } of LINES) {
  console.log(`\n--- ${file} /${pattern}/: ${what}`);
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const args = [
    "--import",
    "tsx",
    "--test",
    "--test-concurrency=1",
    "--test-reporter=tap",
    `--test-name-pattern=${pattern}`,
    path.join("test", file),
  ];
  const run = spawnSync(process.execPath, args, {
    cwd: ROOT,
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 256 * 2 ** 20,
  });
  process.stdout.write(run.stdout ?? "");
  const count = (key: string) => Number(new RegExp(`^# ${key} (\\d+)$`, "m").exec(run.stdout ?? "")?.[1] ?? NaN);
  const pass = count("pass");
  const fail = count("fail");
  const ok = run.status === 0 && pass > 0 && fail === 0;
  if (!ok) failed = true;
  results.push(
    `${ok ? "ok  " : "FAIL"} ${file}: ${pass} passed, ${fail} failed${pass === 0 ? " (the pattern matched no test)" : ""}`,
  );
}
console.log(
  `\nCross-line tests on Node ${process.version} (${process.execPath}), ${Math.round((Date.now() - started) / 1000)} s:`,
);
for (const r of results) console.log(`  ${r}`);
process.exit(failed ? 1 : 0);
