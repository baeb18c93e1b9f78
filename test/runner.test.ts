/**
 * The headless runner (kernel-setup/run_notebook.py) with papermill's conventions, on the small
 * fixture test/fixtures/runner.ipynb: parameters from -p, -r, --param and NB_ variables injected
 * as typed TypeScript constants and recorded in metadata.papermill; a line per cell and the
 * library's progress printed while the notebook runs (not at the end); YAML parameters (-f, -y) in
 * papermill's order; --log-output; a failing cell stops the run with status 1 and its error; bad
 * arguments; the status line on a terminal.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { PYTHON, ROOT, cellText, joined, outDir, type Notebook, type NotebookCell } from "./support/helpers";

const RUNNER = path.join(ROOT, "kernel-setup", "run_notebook.py");
const FIXTURE = path.join(ROOT, "test", "fixtures", "runner.ipynb");

interface Line {
  text: string;
  /** Milliseconds since the runner started. */
  at: number;
}

interface LiveRun {
  status: number | null;
  lines: Line[];
  stderr: string;
  notebook?: Notebook;
}

/** Runs the runner on the fixture, recording when each line of its stderr arrived. */
function runLive(args: string[], out: string, env: NodeJS.ProcessEnv = {}): Promise<LiveRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(PYTHON, [RUNNER, FIXTURE, "--out", out, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    const lines: Line[] = [];
    let stderr = "";
    let partial = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk;
      const parts = (partial + chunk).split("\n");
      partial = parts.pop()!;
      for (const text of parts) lines.push({ text, at: Date.now() - started });
    });
    child.stdout.resume();
    child.on("error", reject);
    child.on("close", (status) => {
      if (partial) lines.push({ text: partial, at: Date.now() - started });
      const file = path.join(out, "runner.ipynb");
      resolve({
        status,
        lines,
        stderr,
        notebook: fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as Notebook) : undefined,
      });
    });
  });
}

function tagged(nb: Notebook, tag: string): NotebookCell & { metadata: { papermill?: Record<string, unknown> } } {
  const cell = nb.cells.find((c) => c.metadata.tags?.includes(tag));
  assert.ok(cell, `no cell tagged ${tag}`);
  return cell!;
}

function indexOfLine(run: LiveRun, re: RegExp): number {
  const i = run.lines.findIndex((l) => re.test(l.text));
  assert.ok(i >= 0, `no line matching ${re} in:\n${run.stderr}`);
  return i;
}

test("the runner injects -p, -r, --param and NB_ parameters as typed constants, records them in metadata.papermill, and prints progress while the cells run", async () => {
  const out = outDir("runner-parameters");
  const run = await runLive(
    [
      "-p",
      "EPOCHS",
      "3",
      "-r",
      "NAME",
      "007",
      "-p",
      "SIZES",
      "[2, 3]",
      "--param",
      "PAUSE_MS=1600",
      "--progress-interval",
      "0",
    ],
    out,
    {
      NB_FAIL: "False",
    },
  );
  assert.equal(run.status, 0, run.stderr);
  const nb = run.notebook!;

  // Injected after the parameters cell, with the declared types; -r keeps "007" a string, and so does a string-typed name.
  const cells = nb.cells.filter((c) => c.cell_type === "code");
  assert.deepEqual(cells[0].metadata.tags, ["parameters"]);
  assert.deepEqual(cells[1].metadata.tags, ["injected-parameters"]);
  const injected = joined(cells[1].source);
  for (const line of [
    "const EPOCHS: number = 3;",
    'const NAME: string = "007";',
    "const SIZES: number[] = [2, 3];",
    "const PAUSE_MS: number = 1600;",
    "const FAIL: boolean = false;",
  ]) {
    assert.ok(injected.includes(line), `"${line}" not in:\n${injected}`);
  }
  assert.equal(
    cellText(tagged(nb, "values")),
    'values: {"EPOCHS":3,"NAME":"007","SIZES":[2,3],"PAUSE_MS":1600,"FAIL":false}\n',
  );

  // Recorded as papermill records them: the parameters, the run, and each cell.
  const papermill = nb.metadata.papermill as Record<string, unknown>;
  assert.deepEqual(papermill.parameters, { FAIL: false, EPOCHS: 3, NAME: "007", SIZES: [2, 3], PAUSE_MS: 1600 });
  assert.equal(papermill.exception, false);
  assert.ok((papermill.duration as number) > 1.6, `duration ${papermill.duration}`);
  assert.match(String(papermill.start_time), /^\d{4}-\d\d-\d\dT/);
  for (const c of cells) {
    const record = (c.metadata as { papermill?: Record<string, unknown> }).papermill;
    assert.equal(record?.status, "completed", `${c.metadata.tags}: ${JSON.stringify(record)}`);
    assert.equal(typeof record?.duration, "number");
  }
  assert.ok((tagged(nb, "train").metadata.papermill!.duration as number) >= 1.6, "the training cell's duration");

  // A line per cell, in order, each as it starts: "[4/7 0:03] train".
  const cellLines = run.lines
    .filter((l) => /^\[\d\/7 \d+:\d\d\] /.test(l.text))
    .map((l) => l.text.replace(/^\[(\d)\/7 \d+:\d\d\] /, "$1 "));
  assert.deepEqual(cellLines, [
    "1 parameters",
    "2 injected-parameters",
    "3 values",
    "4 train",
    "5 print",
    "6 fail",
    "7 after",
  ]);
  assert.match(
    run.lines[0].text,
    /^Executing .*runner\.ipynb with kernel keras-transfer-ts; parameters FAIL=false, EPOCHS=3, NAME="007", SIZES=\[2, 3\], PAUSE_MS=1600 -> /,
  );
  assert.match(
    run.lines[run.lines.length - 1].text,
    /^ok .*runner\.ipynb in [\d.]+s -> .*runner\.ipynb \(\+ \.html\)$/,
  );

  // The training cell's progress display, printed under its cell line: the title, each epoch as it ends, the summary.
  const train = indexOfLine(run, /\] train$/);
  const next = indexOfLine(run, /\] print$/);
  const epochs = [1, 2, 3].map((e) =>
    indexOfLine(run, new RegExp(`^    epoch ${e}/3 · [\\d.]+ s · loss [\\d.]+ · val_loss [\\d.]+$`)),
  );
  const title = indexOfLine(run, /^ {4}Fixture training$/);
  const summary = indexOfLine(run, /^ {4}fixture training finished$/);
  assert.ok(
    train < title &&
      title < epochs[0] &&
      epochs[0] < epochs[1] &&
      epochs[1] < epochs[2] &&
      epochs[2] < summary &&
      summary < next,
    run.stderr,
  );
  assert.ok(
    run.lines.slice(train, next).some((l) => /^ {4}Epoch 2\/3 · batch \d\/2 · /.test(l.text)),
    "the current state is printed too (interval 0)",
  );
  // As it happens: each epoch pauses PAUSE_MS (1.6 s), so printed as they happen the first epoch's line
  // arrives about 3.2 s before the third's; printed at the end, together.
  const gap = run.lines[epochs[2]].at - run.lines[epochs[0]].at;
  assert.ok(gap >= 2500, `epoch lines arrived ${gap} ms apart: printed at the end, not as they happened`);
  // Without --log-output, what cells print stays in the notebook.
  assert.doesNotMatch(run.stderr, /printed by the fixture/);
});

test("a failing cell stops the run with status 1, its source and error, marks it failed in metadata.papermill and with papermill's error banner; --log-output prints what cells print", async () => {
  const out = outDir("runner-failure");
  const run = await runLive(["-p", "FAIL", "true", "--log-output", "--no-progress-bar"], out);
  assert.equal(run.status, 1, run.stderr);
  assert.match(run.stderr, /^ {4}printed by the fixture$/m);
  assert.match(run.stderr, /^ {4}values: \{"EPOCHS":2,"NAME":"fixture","SIZES":\[1\],"PAUSE_MS":0,"FAIL":true\}$/m);
  assert.doesNotMatch(run.stderr, /^\[\d\/7 /m, "--no-progress-bar prints no cell lines");
  assert.match(run.stderr, /^FAILED .*runner\.ipynb at cell 6\/7 \(fail\) after [\d.]+s; executed copy: /m);
  assert.match(run.stderr, /--- failing cell ---\nif \(FAIL\) \{\n {2}throw new Error\("fixture failure requested"\);/);
  assert.match(run.stderr, /--- its error ---\n[\s\S]*Error: fixture failure requested/);
  assert.doesNotMatch(run.stderr, /after the failing cell/);
  const nb = run.notebook!;
  assert.equal((nb.metadata.papermill as Record<string, unknown>).exception, true);
  assert.equal(tagged(nb, "fail").metadata.papermill!.status, "failed");
  assert.equal(tagged(nb, "fail").metadata.papermill!.exception, true);
  assert.equal(tagged(nb, "after").metadata.papermill!.status, "pending");
  assert.equal(cellText(tagged(nb, "after")), "", "a cell after the failing one ran");
  // papermill's error banner: a markdown cell at the top linking to a marker just before the failing cell.
  const failing = nb.cells.findIndex((c) => c.metadata.tags?.includes("fail"));
  const count = (nb.cells[failing] as { execution_count?: number }).execution_count;
  assert.equal(typeof count, "number");
  const [banner, marker] = [nb.cells[0], nb.cells[failing - 1]];
  for (const c of [banner, marker]) {
    assert.equal(c.cell_type, "markdown");
    assert.deepEqual(c.metadata.tags, ["papermill-error-cell-tag"]);
  }
  assert.match(
    joined(banner.source),
    new RegExp(`stopped with an error at <a href="#papermill-error-cell">In \\[${count}\\]</a>`),
  );
  assert.match(joined(marker.source), /<span id="papermill-error-cell"[^>]*>The headless run stopped here/);
  assert.equal(nb.cells.filter((c) => c.metadata.tags?.includes("papermill-error-cell-tag")).length, 2);
  assert.ok(fs.existsSync(path.join(out, "runner.html")), "no HTML copy");
  assert.match(fs.readFileSync(path.join(out, "runner.html"), "utf8"), /id="papermill-error-cell"/);
});

test("the runner refuses bad arguments with status 2 and says why, before starting a kernel", () => {
  const runner = (...args: string[]) => spawnSync(PYTHON, [RUNNER, ...args], { cwd: ROOT, encoding: "utf8" });
  const badName = runner(FIXTURE, "-p", "2EPOCHS", "1");
  assert.equal(badName.status, 2);
  assert.match(badName.stderr, /parameter name '2EPOCHS' is not a valid TypeScript identifier/);
  const noEquals = runner(FIXTURE, "--param", "EPOCHS");
  assert.equal(noEquals.status, 2);
  assert.match(noEquals.stderr, /--param expects NAME=VALUE, got 'EPOCHS' \(or use -p NAME VALUE\)/);
  const missing = runner(path.join(ROOT, "notebooks", "nope.ipynb"));
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /no notebook at .*nope\.ipynb/);
  const noValue = runner(FIXTURE, "-p", "EPOCHS");
  assert.equal(noValue.status, 2);
  assert.match(noValue.stderr, /-p\/--parameters: expected 2 arguments/);
  // YAML parameters (-f, -y), as papermill takes them.
  const noFile = runner(FIXTURE, "-f", path.join(ROOT, "nope.yaml"));
  assert.equal(noFile.status, 2);
  assert.match(noFile.stderr, /no parameters file at .*nope\.yaml/);
  const notYaml = runner(FIXTURE, "-y", "SIZES: [1");
  assert.equal(notYaml.status, 2);
  assert.match(notYaml.stderr, /-y 'SIZES: \[1' is not valid YAML at line 1, column 10: /);
  const noSpace = runner(FIXTURE, "-y", "EPOCHS:1");
  assert.equal(noSpace.status, 2);
  assert.match(
    noSpace.stderr,
    /expected NAME: VALUE lines \(a YAML mapping, a space after each colon\), got the text 'EPOCHS:1'/,
  );
  const aDate = runner(FIXTURE, "-y", "NAME: 2024-01-01");
  assert.equal(aDate.status, 2);
  assert.match(
    aDate.stderr,
    /the value of NAME \(datetime\.date\(2024, 1, 1\)\) has no TypeScript literal; .*\(quote dates\)/,
  );
  for (const r of [noFile, notYaml, noSpace, aDate]) assert.doesNotMatch(r.stderr, /Traceback/);
});

test("YAML parameters (-f FILE, -y TEXT) come after NB_ variables and before -p and -r, typed by YAML and kept to the types the parameters cell declares", () => {
  // collect_params and inject alone, on the fixture, without a kernel: the order papermill applies them in.
  const file = path.join(outDir("runner-yaml"), "params.yaml");
  fs.writeFileSync(file, "EPOCHS: 9\nNAME: 7\nSIZES: [4, 5]\nFAIL: yes\n");
  const script = `
import json, os, sys
sys.path.insert(0, ${JSON.stringify(path.join(ROOT, "kernel-setup"))})
os.environ["NB_PAUSE_MS"] = "5"
os.environ["NB_FAIL"] = "true"
import nbformat
from pathlib import Path
from run_notebook import collect_params, inject
params = collect_params([("p", ("EPOCHS", "3"))], [${JSON.stringify(file)}], ["PAUSE_MS: 1.5e3", "SIZES: [6]"])
nb = nbformat.read(${JSON.stringify(FIXTURE)}, as_version=4)
values = inject(nb, params, Path("fixture"))
print(json.dumps({"values": values, "injected": nb.cells[2].source}))
`;
  const r = spawnSync(PYTHON, ["-c", script], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const { values, injected } = JSON.parse(r.stdout) as { values: Record<string, unknown>; injected: string };
  // -p EPOCHS beats the file; -y SIZES beats the file; the file beats NB_FAIL ("yes" is YAML 1.1's true);
  // NAME: 7 becomes "7" for a string; 1.5e3, a string to YAML 1.1, is read as -p reads it.
  assert.deepEqual(values, { PAUSE_MS: 1500, FAIL: true, EPOCHS: 3, NAME: "7", SIZES: [6] });
  for (const line of [
    "const EPOCHS: number = 3;",
    'const NAME: string = "7";',
    "const SIZES: number[] = [6];",
    "const FAIL: boolean = true;",
  ]) {
    assert.ok(injected.includes(line), `"${line}" not in:\n${injected}`);
  }
  assert.match(injected, /^const PAUSE_MS: number = 1500(\.0)?;$/m);
});

test("on a terminal, the runner redraws one status line in place (cell and current state) and prints finished lines above it", () => {
  // The Terminal class alone, fed the messages a kernel sends, with a stream that says it is a terminal.
  const script = `
import io, json, sys
sys.path.insert(0, ${JSON.stringify(path.join(ROOT, "kernel-setup"))})
from run_notebook import Terminal
import nbformat
out = io.StringIO()
t = Terminal(out, tty=True, interval=10)
cell = nbformat.v4.new_code_cell("await learner.fit(mnist.train)")
cell.metadata["tags"] = ["train"]
t.start_cell(3, 9, cell)
def live(text, done=False, update=True):
    t.message({"msg_type": "update_display_data" if update else "display_data", "content": {
        "data": {"text/html": "<div/>", "text/plain": text},
        "metadata": {"keras-transfer-ts": {"live": "done" if done else "running"}},
        "transient": {"display_id": "d1"}}})
live("Epoch 1/2 · batch 1/10", update=False)
live("Epoch 1/2 · batch 2/10")
live("epoch 1/2 · 3.0 s · loss 0.5\\nEpoch 2/2 · batch 1/10")
live("epoch 1/2 · 3.0 s · loss 0.5\\nepoch 2/2 · 3.1 s · loss 0.4\\nTrained 2 of 2 epochs", done=True)
t.end_cell()
print(json.dumps(out.getvalue()))
`;
  const r = spawnSync(PYTHON, ["-c", script], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const written = JSON.parse(r.stdout) as string;
  const CLEAR = "\r\x1b[K";
  // The status line: the cell, then its current state, each time redrawn over the last.
  assert.ok(written.includes(`${CLEAR}[3/9 0:00] train`), JSON.stringify(written));
  assert.ok(written.includes(`${CLEAR}[3/9 0:00] train · Epoch 1/2 · batch 1/10`));
  assert.ok(written.includes(`${CLEAR}[3/9 0:00] train · Epoch 1/2 · batch 2/10`));
  assert.ok(written.includes(`${CLEAR}[3/9 0:00] train · Epoch 2/2 · batch 1/10`));
  // Finished lines, each once, on lines of their own.
  for (const line of [
    "    epoch 1/2 · 3.0 s · loss 0.5",
    "    epoch 2/2 · 3.1 s · loss 0.4",
    "    Trained 2 of 2 epochs",
  ]) {
    assert.equal(written.split(`${CLEAR}${line}\n`).length, 2, `"${line}" printed once: ${JSON.stringify(written)}`);
  }
  assert.ok(written.endsWith(CLEAR), "the status line is cleared when the cell ends");
  assert.doesNotMatch(written, /Epoch \d\/2 · batch \d+\/10\n/, "states are not printed as lines on a terminal");
});
