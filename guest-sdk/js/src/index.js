/**
 * Write wasync jobs in JavaScript (ES modules).
 *
 * ```js
 * import { jobs, put, Await, JobFailure } from "@wasync/job";
 *
 * function greet(name, greeting = "Hello") {
 *   return `${greeting}, ${name}!`;
 * }
 * function later(name) {
 *   return new Await(put("greet", [name]));   // this job's result is greet's
 * }
 * jobs({ greet, later });
 * ```
 *
 * Arguments come positional (`["Ada"]`) or named (`{"name": "Ada"}`). A
 * thrown error becomes the job's error: kind = its name, detail = its
 * stack. Test with `@wasync/job/testing` under `node --test`; build with
 * `wasync-js build FOLDER -o job.wasm` (componentize-js with this
 * package's WIT).
 */

import { current } from "./backend.js";
import { BAD_ARGUMENTS, JobFailure } from "./errors.js";

export { Await, job, jobs, registered } from "./dispatch.js";
export { BAD_ARGUMENTS, BAD_RESULT, ContextError, JobFailure, UNKNOWN_FUNCTION } from "./errors.js";

const CALLBACK_ON = ["always", "success", "failure"];

function dumps(value, what) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new JobFailure("json", `${what} cannot be turned into JSON: ${e.message}`);
  }
  if (text === undefined) {
    throw new JobFailure("json", `${what} cannot be turned into JSON`);
  }
  return text;
}

function millis(value, what) {
  if (value === undefined || value === null) return undefined;
  const ms = value instanceof Date ? value.getTime() : Number(value);
  if (!Number.isFinite(ms)) throw new JobFailure(BAD_ARGUMENTS, `${what} is not a time`, { permanent: true });
  return BigInt(Math.max(0, Math.floor(ms)));
}

/**
 * A job to put: `new Request("add", [2, 3], { queue: "fast" })`.
 * `args` is an array (positional) or object (named). Options: `module`,
 * `queue` (default: the putting job's), `beginAfter` (a `Date` or ms since
 * the epoch), `beginBy` (ms after it), `quotaNames`, `retry` (a preset's
 * name or a policy object), `quotaKeys` (a partitioned quota and the job's
 * key in it: `{ tenants: "acme" }`), `priority` (an integer; higher runs first among
 * due jobs), `unique` (`{ key, states, periodMs }`, every field optional: a
 * put whose key a job of the queue holds inserts nothing and returns that
 * job's id; no key derives it from module, function and arguments),
 * `broadcast` (`true`: run it once on every live dispatcher with an agent
 * for its queue; only for `put`, whose job's result is the map dispatcher
 * → outcome of its copies).
 */
export class Request {
  constructor(fn, args = [], options = {}) {
    if (typeof fn !== "string" || fn === "") {
      throw new JobFailure(BAD_ARGUMENTS, "a job request needs a function name", { permanent: true });
    }
    if (args === null || typeof args !== "object") {
      throw new JobFailure(BAD_ARGUMENTS, `the arguments of \`${fn}\` must be an array or an object`, {
        permanent: true,
      });
    }
    const known = [
      "module",
      "queue",
      "beginAfter",
      "beginBy",
      "quotaNames",
      "retry",
      "quotaKeys",
      "priority",
      "unique",
      "broadcast",
    ];
    for (const key of Object.keys(options)) {
      if (!known.includes(key)) throw new TypeError(`unknown request option '${key}' (known: ${known.join(", ")})`);
    }
    this.function = fn;
    this.args = args;
    Object.assign(this, options);
  }

  /** The request in the WIT `job-request` shape. */
  wire() {
    return {
      module: this.module ?? undefined,
      function: this.function,
      args: dumps(this.args, `the arguments of \`${this.function}\``),
      queue: this.queue ?? undefined,
      beginAfterMs: millis(this.beginAfter, "beginAfter"),
      beginByMs: millis(this.beginBy, "beginBy"),
      quotaNames: [...(this.quotaNames ?? [])],
      retry: this.retry === undefined || this.retry === null ? undefined : dumps(this.retry, "the retry policy"),
      quotaKeys: Object.entries(this.quotaKeys ?? {}),
      broadcast: this.broadcast === true,
      priority: Math.trunc(Number(this.priority ?? 0)),
      unique:
        this.unique === undefined || this.unique === null
          ? undefined
          : {
              key: this.unique.key ?? undefined,
              states: [...(this.unique.states ?? [])],
              periodMs: this.unique.periodMs === undefined ? undefined : BigInt(this.unique.periodMs),
            },
    };
  }
}

function asRequest(request, args, options) {
  if (request instanceof Request) {
    if (args !== undefined || options !== undefined) {
      throw new TypeError("give either a Request or a function name with arguments and options");
    }
    return request;
  }
  return new Request(request, args ?? [], options ?? {});
}

function checkOn(on) {
  if (!CALLBACK_ON.includes(on)) throw new TypeError(`on must be one of ${CALLBACK_ON.join(", ")}, not '${on}'`);
  return on;
}

/** This job: `{id, queue, module, moduleName, function, args, attempt, annotations}` (decoded). */
export function getJob() {
  const info = current().getJob();
  return {
    id: info.id,
    queue: info.queue,
    module: info.module,
    moduleName: info.moduleName,
    function: info.function,
    args: JSON.parse(info.args),
    attempt: info.attempt,
    annotations: Object.fromEntries(info.annotations.map(([k, v]) => [k, JSON.parse(v)])),
  };
}

/** Sets annotation `name` of this job (or of `options.job`) to `value`, committed at once. */
export function setLiveAnnotation(name, value, { job } = {}) {
  current().setLiveAnnotation(name, dumps(value, `annotation \`${name}\``), job);
}

/**
 * Reads annotation `name` of this job (or of `options.job`); while it is
 * absent waits up to `timeout` ms, re-checking every `poll` ms, then gives
 * `defaultValue`.
 */
export function getLiveAnnotation(name, defaultValue = undefined, { timeout = 0, poll = 1000, job } = {}) {
  const clamp = (n) => Math.min(Math.max(Math.floor(n), 0), 2 ** 32 - 1);
  const text = current().getLiveAnnotation(name, clamp(timeout), Math.max(clamp(poll), 1), job);
  return text === undefined || text === null ? defaultValue : JSON.parse(text);
}

/**
 * Puts a new job and returns its id: `put("add", [2, 3])`,
 * `put("mail", {to: "ops"}, {queue: "mail"})` or `put(new Request(...))`.
 * Return `new Await(id)` to make this job's result that job's.
 */
export function put(request, args, options) {
  return current().put(asRequest(request, args, options).wire());
}

/** The most requests one `putMany` takes: the host's batch maximum (as `POST /v1/jobs/batch`). */
export const PUT_MANY_MAX = 10000;

/**
 * Puts every job of `requests` (each a `Request`, or a function name for no
 * arguments) all or none, in one transaction, and returns one
 * `{id, duplicate}` per request in the order given, once all are
 * committed: `putMany([0, 1, 2].map((i) => new Request("square", [i])))`.
 * `duplicate` is true when nothing was inserted for that request: its
 * `unique` key was held (by a job already in the queue, or an earlier
 * request of the list) and `id` is that job. Each request is checked as
 * `put` checks it; the list counts against the run's fan-out cap as that
 * many puts. Throws `JobFailure` (`bad-arguments`, naming the item) for a
 * request that cannot be sent, `ContextError` if the host refuses the
 * list: more than `PUT_MANY_MAX` requests, a broadcast, or what `put`
 * refuses, naming the first request at fault (`item 3: ...`). Nothing of
 * the list is stored then.
 */
export function putMany(requests) {
  const wires = [...requests].map((request, index) => {
    try {
      return asRequest(request).wire();
    } catch (e) {
      if (!(e instanceof JobFailure)) throw e;
      throw new JobFailure(e.kind, `item ${index}: ${e.failureMessage}`, {
        detail: e.detail,
        permanent: e.permanent,
      });
    }
  });
  return current()
    .putMany(wires)
    .map((answer) => ({ id: answer.id, duplicate: answer.duplicate }));
}

/**
 * Adds a callback to `job`: `callback` is put once `job` has its outcome,
 * appended to its positional arguments (under `outcome` for named ones).
 * `on`: "always", "success" or "failure". Returns the callback's id.
 */
export function addCallback(job, callback, on = "always") {
  return current().addCallback(job, checkOn(on), asRequest(callback).wire());
}

/** Puts a "serial" or "parallel" composite of `parts`, then `postprocess`; returns its id. */
export function putComposite(kind, parts, postprocess) {
  if (kind !== "serial" && kind !== "parallel") throw new TypeError(`kind must be 'serial' or 'parallel', not '${kind}'`);
  return current().putComposite(
    kind,
    parts.map((p) => asRequest(p).wire()),
    asRequest(postprocess).wire(),
  );
}

/** zc.async `serial(...parts, postprocess)`. */
export function serial(parts, postprocess) {
  return putComposite("serial", parts, postprocess);
}

/** zc.async `parallel(...parts, postprocess)`. */
export function parallel(parts, postprocess) {
  return putComposite("parallel", parts, postprocess);
}

/** Adds `part`, last, to `composite` with `callbacks` (`[on, request]` pairs); returns the part's id. */
export function addPart(composite, part, callbacks = []) {
  return current().addPart(
    composite,
    asRequest(part).wire(),
    callbacks.map(([on, r]) => [checkOn(on), asRequest(r).wire()]),
  );
}

/** Creates a job waiting in no queue until `appendArgs` puts it; returns its id. */
export function putHeld(request, args, options) {
  return current().putHeld(asRequest(request, args, options).wire());
}

/** Appends `args` to a held job's arguments; puts it once it has `putWhen`. Returns the count. */
export function appendArgs(job, args, putWhen) {
  if (!Array.isArray(args)) throw new TypeError("appendArgs takes an array of arguments");
  return current().appendArgs(job, dumps(args, "the arguments"), putWhen);
}
