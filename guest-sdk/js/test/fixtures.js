// Job functions the SDK's tests run through the fake context.
import * as wj from "../src/index.js";
import { Await, JobFailure, Request, job, jobs } from "../src/index.js";

export function greet(name, greeting = "Hello") {
  return `${greeting}, ${name}!`;
}
function add(a, b = 1) {
  return a + b;
}
const sumAll = (...numbers) => numbers.reduce((a, b) => a + b, 0);
const options = ({ a, b }) => [a, b];
function boom() {
  return null.field;
}
class BadOrder extends Error {
  constructor(message) {
    super(message);
    this.name = "BadOrder";
    this.permanent = true;
  }
}
function badOrder(order) {
  throw new BadOrder(`order ${order} is malformed`);
}
function refuse() {
  throw new JobFailure("quota", "over quota", { detail: "3 of 3 used" });
}
function notJson() {
  return 10n;
}
function whoami() {
  const me = wj.getJob();
  wj.setLiveAnnotation("stage", { step: 1 });
  return { id: me.id, function: me.function, args: me.args, attempt: me.attempt };
}
function delegate(name) {
  return new Await(wj.put("greet", [name], { queue: "fast", retry: "never", quotaNames: ["q"], beginBy: 60000 }));
}
function handOff(n) {
  const composite = wj.parallel([new Request("add", [n, 1]), new Request("add", { a: n, b: 2 })], "total");
  wj.addCallback(composite, new Request("alert", { level: "high" }), "failure");
  return new Await(composite);
}
function total(...outcomes) {
  return outcomes.reduce((a, b) => a + b, 0);
}
function waitFor(name, other = undefined) {
  return wj.getLiveAnnotation(name, "absent", { timeout: 500, job: other });
}
function gather(n) {
  const held = wj.putHeld("total");
  let count = 0;
  for (let i = 0; i < n; i++) count = wj.appendArgs(held, [i], n);
  return count;
}
function markOther(other) {
  wj.setLiveAnnotation("seen", true, { job: other });
}
function extend(composite) {
  return wj.addPart(composite, "add", [["success", new Request("greet", ["part"])]]);
}
async function asyncJob() {
  return 1;
}
function fanOut(n) {
  const requests = Array.from({ length: n }, (_, i) => new Request("add", [i]));
  return wj.putMany(requests).map((answer) => answer.id);
}
function putThese(requests) {
  return wj.putMany(requests.map(([fn, args]) => new Request(fn, args))).map((answer) => answer.duplicate);
}
function manyWithBroadcast() {
  return wj.putMany(["add", new Request("add", [1], { broadcast: true })]);
}
function manyWithABadRequest() {
  return wj.putMany([new Request("add", [1]), new Request("add", [10n])]);
}
function shout(fn) {
  return wj.put(fn, [], { broadcast: true, priority: 3, quotaKeys: { tenants: "acme" } });
}

jobs({ greet, add, "sum-all": sumAll, options, boom, badOrder, refuse, notJson, whoami, delegate });
jobs({ handOff, total, waitFor, gather, markOther, extend, asyncJob });
jobs({ fanOut, putThese, manyWithBroadcast, manyWithABadRequest, shout });
job((x, y) => [x, y], { name: "explicit", params: ["x", "y?"] });
