/**
 * The environment's switches (src/util/env.ts): what turns something off, and what does not.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { switchedOff } from "../src/util/env";

test("a switch is off for 0, false, off and no in any case and spacing, and on when unset, empty or anything else", () => {
  for (const v of ["0", "false", "OFF", " no ", "False"]) assert.equal(switchedOff(v), true, JSON.stringify(v));
  for (const v of ["", "1", "true", "on", "yes", "00", undefined])
    assert.equal(switchedOff(v), false, JSON.stringify(v));
});
