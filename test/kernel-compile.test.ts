/**
 * The library compiles with the notebook kernel's own TypeScript and options (tslab bundles an
 * older TypeScript and compiles imported files itself): a type error there breaks every notebook.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { ROOT } from "./support/helpers";

test('`import * as kt from "./src/index"` compiles in the tslab kernel without diagnostics', () => {
  const previous = process.cwd();
  process.chdir(ROOT);
  try {
    const { createConverter } = require(path.join(ROOT, "node_modules/tslab/dist/converter.js"));
    const converter = createConverter();
    try {
      const out = converter.convert("", 'import * as kt from "./src/index";\nconsole.log(kt.describeBackend());\n');
      const messages = (
        out.diagnostics as Array<{ fileName?: string; start: { line: number }; messageText: string }>
      ).map((d) => `${d.fileName ?? "cell"}:${d.start.line + 1}: ${d.messageText}`);
      assert.deepEqual(messages, []);
    } finally {
      converter.close();
    }
  } finally {
    process.chdir(previous);
  }
});
