import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { contextImport, customSection, defaultModules } from "../src/build.js";

test("custom section encoding", () => {
  const s = customSection("wasync-functions", '["a"]');
  assert.equal(s[0], 0);
  assert.equal(s[1], s.length - 2);
  assert.equal(s[2], "wasync-functions".length);
  assert.equal(s.subarray(3, 19).toString(), "wasync-functions");
  assert.equal(s.subarray(19).toString(), '["a"]');
  const big = customSection("x", "y".repeat(200));
  assert.deepEqual([...big.subarray(1, 3)], [(202 & 0x7f) | 0x80, 202 >> 7]);
});

test("job modules of a folder", () => {
  const dir = mkdtempSync(join(tmpdir(), "wasync-js-test-"));
  for (const f of ["app.js", "more.mjs", "app.test.js", "rolldown.config.js", "notes.txt"]) writeFileSync(join(dir, f), "");
  assert.deepEqual(defaultModules(dir), ["app.js", "more.mjs"]);
});

test("the context import carries the WIT's version", () => {
  assert.match(contextImport(), /^wasync:job\/context@\d+\.\d+\.\d+$/);
});
