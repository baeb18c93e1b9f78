/**
 * `npm run lab`, the README's command for opening the notebooks, started as a user would (as root
 * too, as in most containers: JupyterLab refuses root unless told --allow-root): its REST API
 * serves notebooks/ with both notebooks and offers the project's kernel as the default; then it
 * shuts down cleanly when asked through the API.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT, outDir } from "./support/helpers";
import { KERNEL_NAME, startLab, type LabExit } from "./support/lab";

const NOTEBOOKS_DIR = path.join(ROOT, "notebooks");

interface KernelSpecs {
  default: string;
  kernelspecs: Record<string, { name: string; spec: { display_name: string; argv: string[]; language: string } }>;
}

interface Contents {
  type: string;
  content: Array<{ name: string; path: string; type: string }>;
}

test("npm run lab serves notebooks/ with the project's kernel as the default (as root too) and stops cleanly", async (t) => {
  const log = path.join(outDir("lab"), "npm-run-lab.log");
  const lab = await startLab({ command: "npm run lab", rootDir: NOTEBOOKS_DIR, logFile: log });
  let exit: LabExit;
  try {
    t.diagnostic(
      `running as ${process.getuid?.() === 0 ? "root" : `uid ${process.getuid?.()}`}; server log in ${path.relative(ROOT, log)}`,
    );
    const specs = (await (await lab.api("GET", "/api/kernelspecs")).json()) as KernelSpecs;
    assert.equal(specs.default, KERNEL_NAME, `the default kernel is ${specs.default}`);
    const ours = specs.kernelspecs[KERNEL_NAME];
    assert.ok(ours, `the project's kernel is not offered: ${Object.keys(specs.kernelspecs).join(", ")}`);
    assert.equal(ours.spec.display_name, "TypeScript (keras-transfer-ts)");
    assert.equal(ours.spec.argv[0], path.join(ROOT, "kernel-setup", "kernel"));

    const listing = await lab.api("GET", "/api/contents/");
    assert.equal(listing.status, 200);
    const root = (await listing.json()) as Contents;
    assert.equal(root.type, "directory");
    const committed = fs.readdirSync(NOTEBOOKS_DIR).filter((f) => f.endsWith(".ipynb") && !f.startsWith("."));
    assert.deepEqual(committed.sort(), ["inception.ipynb", "xception.ipynb"]);
    assert.deepEqual(
      root.content
        .filter((c) => c.type === "notebook")
        .map((c) => c.name)
        .sort(),
      committed,
      `the server's root is not notebooks/: it lists ${root.content.map((c) => c.name).join(", ")}`,
    );
    // Each opens as a notebook whose metadata names the project's kernel.
    for (const name of committed) {
      const r = await lab.api("GET", `/api/contents/${name}?type=notebook`);
      assert.equal(r.status, 200, `${name}: HTTP ${r.status}`);
      const nb = (await r.json()) as { type: string; content: { metadata: { kernelspec?: { name: string } } } };
      assert.equal(nb.type, "notebook");
      assert.equal(nb.content.metadata.kernelspec?.name, KERNEL_NAME, `${name}: kernelspec`);
    }
  } finally {
    exit = await lab.stop();
  }
  assert.deepEqual(exit, { code: 0, signal: null, forced: false }, `npm run lab did not stop cleanly; see ${log}`);
  await assert.rejects(
    fetch(`${lab.base}/api/status`, { signal: AbortSignal.timeout(5_000) }),
    "the server still answers after stopping",
  );
});
