/**
 * The tests CI runs on the Node lines other than the one that runs the whole suite (`npm run
 * test:lines`; .ci/run runs it after a set-up from nothing in a fresh clone). They cover what
 * depends on the Node version: the TensorFlow.js loader and the native addon, both engines training
 * both bases, a notebook in the kernel, the .keras round trip, and the tutorial's notebooks run from
 * JupyterLab in Chromium (both, or the one KT_LINES_NOTEBOOK names: see browserEntry). Each is the
 * lightest test that covers its part (CI's time is spent once, on the main line's whole suite); the
 * whole suite runs the heavier ones.
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
  browserEntry(process.env.KT_LINES_NOTEBOOK),
];

/**
 * The browser test: both tutorial notebooks, or only the one KT_LINES_NOTEBOOK names. CI gives each
 * of the other lines one of the two (they are built alike and differ only in the base), so that both
 * run on a line other than the main one at half the time; the main line's suite runs both.
 */
function browserEntry(notebook: string | undefined): { file: string; pattern: string; what: string } {
  if (notebook === undefined || notebook === "")
    return {
      file: "browser.test.ts",
      pattern: "Run All Cells renders every output",
      what: "both tutorial notebooks run in the kernel from JupyterLab, in Chromium",
    };
  if (notebook !== "inception" && notebook !== "xception")
    throw new Error(`KT_LINES_NOTEBOOK must be "inception" or "xception" (or unset for both), not "${notebook}".`);
  return {
    file: "browser.test.ts",
    pattern: `${notebook}\\.ipynb: Run All Cells renders every output`,
    what: `${notebook}.ipynb run in the kernel from JupyterLab, in Chromium`,
  };
}

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
