import assert from "node:assert/strict";
import { test } from "node:test";

import "./fixtures.js";
import { job, registered } from "../src/index.js";
import { call, parseParams } from "../src/dispatch.js";
import { FakeContext, JobFailed } from "../src/testing.js";

const run = (fn, args) => new FakeContext().run(fn, args);
function failure(fn, args) {
  try {
    run(fn, args);
  } catch (e) {
    assert.ok(e instanceof JobFailed, String(e));
    return e;
  }
  assert.fail(`${fn} did not fail`);
}

test("positional and named arguments", () => {
  assert.equal(run("greet", ["Ada"]).value, "Hello, Ada!");
  assert.equal(run("greet", { name: "Ada", greeting: "Hi" }).value, "Hi, Ada!");
  assert.equal(run("greet", { name: "Ada" }).value, "Hello, Ada!");
  assert.equal(run("add", [2, 3]).value, 5);
  assert.equal(run("add", { a: 2 }).value, 3);
  assert.equal(run("sum-all", [1, 2, 3.5]).value, 6.5);
  assert.deepEqual(run("options", { a: 1, b: 2 }).value, [1, 2]);
  assert.deepEqual(run("explicit", { x: 1 }).value, [1, null]);
  assert.ok(registered().includes("sum-all"));
});

test("parameter names are read from the source", () => {
  const names = (f) => parseParams(f).map((p) => [p.name, p.hasDefault, p.rest]);
  assert.deepEqual(names(function f(a, b = "x,y", { c } = {}, ...d) {}), [
    ["a", false, false],
    ["b", true, false],
    [null, true, false],
    ["d", false, true],
  ]);
  assert.deepEqual(names((x) => x), [["x", false, false]]);
  assert.deepEqual(names((p = (1, 2), q = [3, 4]) => p), [["p", true, false], ["q", true, false]]);
});

test("bad arguments name the parameter", () => {
  let e = failure("add", [1, 2, 3]);
  assert.equal(e.kind, "bad-arguments");
  assert.equal(e.permanent, true);
  assert.match(e.failureMessage, /at most 2 arguments, got 3/);
  assert.match(failure("add", { b: 1 }).failureMessage, /missing argument `a`/);
  assert.match(failure("add", []).failureMessage, /missing argument `a`/);
  assert.match(failure("add", { a: 1, c: 2 }).failureMessage, /no parameter `c`/);
  e = call("add", "5");
  assert.equal(e.failure.kind, "bad-arguments");
  assert.match(call("add", "[1,").failure.message, /not JSON/);
});

test("unknown function lists the module's functions", () => {
  const e = failure("nope", []);
  assert.equal(e.kind, "unknown-function");
  assert.equal(e.permanent, true);
  assert.match(e.failureMessage, /no job function `nope`.*greet/);
});

test("a thrown error becomes a job error with its stack", () => {
  const e = failure("boom", []);
  assert.equal(e.kind, "TypeError");
  assert.equal(e.permanent, false);
  assert.match(e.detail, /boom/);
});

test("permanent errors and chosen fields", () => {
  const e = failure("badOrder", ["12-x"]);
  assert.deepEqual([e.kind, e.permanent], ["BadOrder", true]);
  const r = failure("refuse", []);
  assert.deepEqual([r.kind, r.failureMessage, r.detail, r.permanent], ["quota", "over quota", "3 of 3 used", false]);
});

test("results must be JSON and synchronous", () => {
  assert.match(failure("notJson", []).failureMessage, /cannot be turned into JSON/);
  assert.match(failure("asyncJob", []).failureMessage, /returned a Promise/);
  assert.equal(call("greet", '["Ada"]').value, '"Hello, Ada!"');
});

test("two functions with one name are refused", () => {
  assert.throws(() => job(() => 1, { name: "greet" }), /two job functions are named 'greet'/);
});
