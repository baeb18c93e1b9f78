/**
 * The environment's switches (src/util/env.ts): what turns something off, and what does not.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { switchedOff } from "../src/util/env";

test("a switch is off for 0, false, off and no in any case and spacing, and on when unset, empty or anything else", () => {
  const name = "KT_TEST_SWITCH";
  const saved = process.env[name];
  try {
    for (const v of ["0", "false", "OFF", " no ", "False"]) {
      process.env[name] = v;
      assert.equal(switchedOff(name), true, JSON.stringify(v));
    }
    for (const v of ["", "1", "true", "on", "yes", "00"]) {
      process.env[name] = v;
      assert.equal(switchedOff(name), false, JSON.stringify(v));
    }
    delete process.env[name];
    assert.equal(switchedOff(name), false, "unset");
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
});
