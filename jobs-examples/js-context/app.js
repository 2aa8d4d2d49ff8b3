// JavaScript jobs that talk to wasync while they run: their own job, live
// annotations (on themselves and on another job), put, await-job,
// callbacks and a composite.

import * as wj from "@wasync/job";
import { Await, Request } from "@wasync/job";

function whoami() {
  const me = wj.getJob();
  wj.setLiveAnnotation("stage", "running");
  return { id: me.id, function: me.function, args: me.args, attempt: me.attempt };
}

function double(n) {
  return 2 * n;
}

function delegate(n, queue = undefined) {
  return new Await(wj.put("double", [n], { queue, retry: "never" }));
}

function mark(other, name, value) {
  wj.setLiveAnnotation(name, value, { job: other });
}

function waitFor(name, timeoutMs = 10000, other = undefined) {
  return wj.getLiveAnnotation(name, "timed out", { timeout: timeoutMs, poll: 50, job: other });
}

function withCallback(n) {
  const child = wj.put("double", [n]);
  return new Await(wj.addCallback(child, new Request("record"), "success"));
}

function record(outcome) {
  return `recorded ${outcome}`;
}

function total(outcomes) {
  return outcomes.reduce((a, b) => a + b, 0);
}

function fanOut(n) {
  const parts = Array.from({ length: n }, (_, i) => new Request("double", [i]));
  return new Await(wj.parallel(parts, new Request("total", {})));
}

function now() {
  return { ms: Date.now(), random: Math.random() };
}

/** `double(i)` for `i` in `0..n`, put in one `putMany`; their ids. */
function doubleMany(n) {
  const requests = Array.from({ length: n }, (_, i) => new Request("double", [i]));
  return wj.putMany(requests).map((answer) => answer.id);
}

wj.jobs({
  whoami,
  double,
  delegate,
  mark,
  wait_for: waitFor,
  with_callback: withCallback,
  record,
  total,
  fan_out: fanOut,
  double_many: doubleMany,
  now,
});
