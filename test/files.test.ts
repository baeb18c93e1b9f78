/**
 * Paths (src/util/files.ts): folders made level by level, writability found by trying and nothing
 * left behind, atomic writes that leave no folder behind when they fail, and no path that hangs the
 * process (under /proc, Node's recursive mkdir spins for good: the checks there run in a child
 * process that is killed after a minute, so a hang fails the test instead of stalling the suite).
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { checkWritable, makeFolders, PathError, writeAtomically } from "../src/util/files";
import { ROOT, tmpDir } from "./support/helpers";

/** Everything under `dir`, as relative paths, sorted. */
function tree(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

test("makeFolders makes the missing folders level by level and returns them; an existing folder makes none", () => {
  const dir = tmpDir("files-make");
  const deep = path.join(dir, "a", "b", "c");
  assert.deepEqual(makeFolders(deep), [path.join(dir, "a"), path.join(dir, "a", "b"), deep]);
  assert.ok(fs.statSync(deep).isDirectory());
  assert.deepEqual(makeFolders(deep), []);
  assert.deepEqual(makeFolders(dir), []);
});

test("makeFolders refuses a path through a file, naming the file, and makes nothing", () => {
  const dir = tmpDir("files-blocked");
  fs.writeFileSync(path.join(dir, "a-file"), "");
  assert.throws(
    () => makeFolders(path.join(dir, "a-file", "x", "y")),
    (e: unknown) => e instanceof PathError && /a-file is a file, not a folder/.test(e.message),
  );
  assert.deepEqual(tree(dir), ["a-file"]);
});

test("checkWritable tries the path and leaves nothing behind: no probe file, no folder it made", () => {
  const dir = tmpDir("files-check");
  checkWritable(path.join(dir, "new", "deeper", "model.keras"));
  checkWritable(path.join(dir, "model.keras"));
  assert.deepEqual(tree(dir), []);
  fs.writeFileSync(path.join(dir, "model.keras"), "old");
  checkWritable(path.join(dir, "model.keras"));
  assert.deepEqual(tree(dir), ["model.keras"]);
  assert.equal(fs.readFileSync(path.join(dir, "model.keras"), "utf8"), "old", "an existing file is not touched");
  fs.mkdirSync(path.join(dir, "folder.keras"));
  assert.throws(() => checkWritable(path.join(dir, "folder.keras")), /folder\.keras is a folder/);
  fs.writeFileSync(path.join(dir, "a-file"), "");
  assert.throws(
    () => checkWritable(path.join(dir, "a-file", "sub", "best.h5")),
    /Cannot write .*best\.h5: .*a-file is a file, not a folder/,
  );
  assert.deepEqual(tree(dir), ["a-file", "folder.keras", "model.keras"]);
});

test("writeAtomically makes the file's folders; when the write fails it removes them and the temporary file", async () => {
  const dir = tmpDir("files-atomic");
  await writeAtomically(path.join(dir, "x", "y", "out.txt"), "tmp", (tmp) => fs.writeFileSync(tmp, "done"));
  assert.equal(fs.readFileSync(path.join(dir, "x", "y", "out.txt"), "utf8"), "done");
  await assert.rejects(
    writeAtomically(path.join(dir, "p", "q", "out.txt"), "tmp", (tmp) => {
      fs.writeFileSync(tmp, "half");
      throw new Error("the writer failed");
    }),
    /the writer failed/,
  );
  assert.deepEqual(tree(dir), ["x", path.join("x", "y"), path.join("x", "y", "out.txt")]);
});

test(
  "paths under /proc fail at once with a clear error (a child process, killed if it hangs)",
  { timeout: 120_000 },
  () => {
    const code = `
    const { checkWritable, makeFolders } = require(${JSON.stringify(path.join(ROOT, "src", "util", "files.ts"))});
    const out = [];
    for (const f of [() => makeFolders("/proc/kt-test/a/b"), () => checkWritable("/proc/kt-test/a/best.keras"), () => checkWritable("/proc/self/kt/best.h5")]) {
      try { f(); out.push("no error"); } catch (e) { out.push(e.message); }
    }
    console.log(JSON.stringify(out));
  `;
    const r = spawnSync(process.execPath, ["--import", "tsx", "-e", code], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 60_000,
      killSignal: "SIGKILL",
    });
    assert.equal(r.signal, null, `the child hung and was killed (${r.signal})`);
    assert.equal(r.status, 0, r.stderr);
    const messages = JSON.parse(r.stdout.trim().split("\n").pop()!) as string[];
    assert.match(
      messages[0],
      /^Cannot write \/proc\/kt-test\/a\/b: \/proc is a virtual file system of the kernel, where no files can be made\.$/,
    );
    assert.match(messages[1], /^Cannot write \/proc\/kt-test\/a\/best\.keras: \/proc is a virtual file system/);
    assert.match(
      messages[2],
      /^Cannot write \/proc\/self\/kt\/best\.h5: \/proc\/self is in \/proc, which is a virtual file system/,
    );
  },
);
