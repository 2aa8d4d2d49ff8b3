import assert from "node:assert/strict";
import { test } from "node:test";

import "./fixtures.js";
import * as wj from "../src/index.js";
import { activate, deactivate } from "../src/backend.js";
import { makeRun } from "../src/component.js";
import { FakeContext, JobFailed } from "../src/testing.js";

test("get-job and a live annotation", () => {
  const ctx = new FakeContext({ attempt: 2 });
  assert.deepEqual(ctx.run("whoami", {}).value, { id: ctx.id, function: "whoami", args: {}, attempt: 2 });
  assert.deepEqual(ctx.annotation("stage"), { step: 1 });
});

test("put with request fields, and await", () => {
  const ctx = new FakeContext();
  const out = ctx.run("delegate", ["Bob"]);
  const [put] = ctx.puts;
  assert.equal(out.awaited, put.id);
  assert.deepEqual([put.function, put.args, put.queue, put.retry, put.quotaNames, put.beginByMs], [
    "greet", ["Bob"], "fast", "never", ["q"], 60000n,
  ]);
  assert.equal(ctx.runPut(put).value, "Hello, Bob!");
  const when = new wj.Request("f", [], { beginAfter: new Date(Date.UTC(2030, 0, 1)), module: "m" }).wire();
  assert.equal(when.beginAfterMs, 1893456000000n);
  assert.equal(when.module, "m");
  assert.throws(() => new wj.Request("f", [], { queeue: "x" }), /unknown request option 'queeue'/);
});

test("composite and callback", () => {
  const ctx = new FakeContext();
  const out = ctx.run("handOff", [5]);
  const [composite] = ctx.composites;
  assert.equal(out.awaited, composite.id);
  assert.equal(composite.kind, "parallel");
  assert.deepEqual(composite.parts.map((p) => [p.function, p.args]), [["add", [5, 1]], ["add", { a: 5, b: 2 }]]);
  const [callback] = ctx.callbacks;
  assert.deepEqual([callback.job, callback.on, callback.request.args], [composite.id, "failure", { level: "high" }]);
  const parts = composite.parts.map((p) => ctx.runPut(p).value);
  assert.equal(ctx.run("total", parts).value, 13);
  const part = ctx.run("extend", [composite.id]).value;
  assert.deepEqual(composite.partCallbacks[part].map(([on, r]) => [on, r.function]), [["success", "greet"]]);
  assert.throws(() => ctx.run("extend", [ctx.id]), (e) => e instanceof JobFailed && e.kind === "ContextError");
});

test("a held job is put once it has its arguments", () => {
  const ctx = new FakeContext();
  assert.equal(ctx.run("gather", [3]).value, 3);
  assert.deepEqual(ctx.puts[0].args, [0, 1, 2]);
  assert.equal(ctx.heldArgs(ctx.puts[0].id), null);
});

test("annotations of another job, waits and refusals", () => {
  const ctx = new FakeContext();
  const other = ctx.addJob();
  ctx.run("markOther", [other]);
  assert.equal(ctx.annotation("seen", other), true);
  assert.equal(ctx.run("waitFor", ["seen", other]).value, true);
  assert.equal(ctx.run("waitFor", ["missing"]).value, "absent");
  assert.deepEqual(ctx.waits.at(-1), { job: ctx.id, name: "missing", timeout: 500, found: false });
  assert.throws(
    () => ctx.run("markOther", ["0190a5c0-0000-7000-8000-ffffffffffff"]),
    (e) => e.kind === "ContextError" && /does not exist/.test(e.failureMessage),
  );
});

test("context outside a job says so", () => {
  assert.throws(() => wj.getJob(), /no job is running/);
  const previous = activate(new FakeContext());
  try {
    assert.throws(() => wj.addCallback("x", "f", "sometimes"), /on must be one of/);
  } finally {
    deactivate(previous);
  }
});

test("the run export maps outcomes and errors to the WIT shapes", () => {
  // A host whose calls fail the way componentize-js reports a result's err.
  const ctx = new FakeContext();
  const host = {
    getJob: () => ctx.getJob(),
    put: () => {
      throw Object.assign(new Error("err"), { payload: "unknown queue 'x'" });
    },
  };
  const run = makeRun(host);
  assert.deepEqual(run("greet", '["Ada"]'), { tag: "value", val: '"Hello, Ada!"' });
  assert.throws(
    () => run("delegate", '["Bob"]'),
    (e) => e.payload.kind === "ContextError" && e.payload.message === "put: unknown queue 'x'",
  );
  assert.throws(() => run("nope", "[]"), (e) => e.payload.kind === "unknown-function" && e.payload.permanent);
});

test("putMany puts each request in order", () => {
  const ctx = new FakeContext();
  const out = ctx.run("fanOut", [3]);
  assert.deepEqual(out.value, ctx.puts.map((p) => p.id));
  assert.deepEqual(
    ctx.puts.map((p) => [p.function, p.args, p.parent]),
    [0, 1, 2].map((i) => ["add", [i], ctx.id]),
  );
  assert.deepEqual(ctx.run("fanOut", [0]).value, []);
  assert.deepEqual(ctx.run("putThese", [[["add", [1]], ["add", { a: 2 }]]]).value, [false, false]);
  assert.equal(wj.PUT_MANY_MAX, 10000);
});

test("putMany is refused as the host refuses it, and puts nothing", () => {
  const ctx = new FakeContext();
  assert.throws(
    () => ctx.run("fanOut", [wj.PUT_MANY_MAX + 1]),
    (e) => e.kind === "ContextError" && /at most 10000 requests; this list holds 10001/.test(e.failureMessage),
  );
  assert.throws(
    () => ctx.run("manyWithBroadcast", []),
    (e) => e.kind === "ContextError" && /item 1: .*broadcast/.test(e.failureMessage),
  );
  assert.throws(
    () => ctx.run("putThese", [[["add", [1]], ["", []]]]),
    (e) => e.kind === "bad-arguments" && /function name/.test(e.failureMessage),
  );
  assert.throws(
    () => ctx.run("manyWithABadRequest", []),
    (e) => e.kind === "json" && /^item 1: /.test(e.failureMessage),
  );
  assert.deepEqual(ctx.puts, []);
  assert.equal(ctx.run("fanOut", [wj.PUT_MANY_MAX]).value.length, wj.PUT_MANY_MAX);
});

test("request builders: broadcast, priority, unique, quota keys", () => {
  const wire = new wj.Request("f", [1], {
    broadcast: true,
    priority: -2,
    quotaKeys: { tenants: "acme" },
    unique: { key: "k", states: ["pending"], periodMs: 60000 },
  }).wire();
  assert.equal(wire.broadcast, true);
  assert.equal(wire.priority, -2);
  assert.deepEqual(wire.quotaKeys, [["tenants", "acme"]]);
  assert.deepEqual(wire.unique, { key: "k", states: ["pending"], periodMs: 60000n });
  assert.equal(new wj.Request("f").wire().broadcast, false);
  const ctx = new FakeContext();
  ctx.run("shout", ["add"]);
  const [put] = ctx.puts;
  assert.deepEqual([put.broadcast, put.priority, put.quotaKeys], [true, 3, { tenants: "acme" }]);
});

test("the run export hands putMany's answers back", () => {
  const ctx = new FakeContext();
  const seen = [];
  const host = {
    getJob: () => ctx.getJob(),
    putMany: (requests) => {
      seen.push(...requests);
      return requests.map((_, i) => ({ id: `id-${i}`, duplicate: i > 0 }));
    },
  };
  const run = makeRun(host);
  assert.deepEqual(run("putThese", '[[["add", [1]], ["add", [1]]]]'), { tag: "value", val: "[false,true]" });
  assert.deepEqual(seen.map((r) => [r.function, r.args, r.broadcast]), [["add", "[1]", false], ["add", "[1]", false]]);
});
