/**
 * Test job functions in plain Node.js, without wasm or wasync: a fake
 * `context` held in memory and a runner that calls a job function by name
 * with JSON arguments through the very dispatch the component uses.
 *
 * ```js
 * import { FakeContext, JobFailed } from "@wasync/job/testing";
 * const ctx = new FakeContext();
 * const outcome = ctx.run("later", ["Ada"]);
 * assert.equal(outcome.awaited, ctx.puts[0].id);
 * assert.equal(ctx.runPut(ctx.puts[0]).value, "Hello, Ada!");
 * ```
 *
 * Differences from the host, on purpose: a wait for an absent live
 * annotation returns the default at once (recorded in `waits`); module and
 * queue names are not checked; no size limits apply, but for the count of a
 * `putMany` (`PUT_MANY_MAX`, as the host); every put is inserted
 * (uniqueness is the host's).
 */

import { activate, deactivate } from "./backend.js";
import { call } from "./dispatch.js";
import { ContextError } from "./errors.js";
import { PUT_MANY_MAX } from "./index.js";

/** A job run by `FakeContext.run` failed; the fields are the `job-error`. */
export class JobFailed extends Error {
  constructor(failure) {
    super(`${failure.kind}: ${failure.message}`);
    this.name = "JobFailed";
    this.kind = failure.kind;
    this.failureMessage = failure.message;
    this.detail = failure.detail;
    this.permanent = failure.permanent;
  }
}

/** An in-memory queue, and a view of it as one job (`id`). */
export class FakeContext {
  constructor({ queue = "", module = `sha256:${"0".repeat(64)}`, moduleName, attempt = 1, annotations = {} } = {}) {
    this.state = { jobs: new Map(), next: 1, puts: [], callbacks: [], composites: [], waits: [] };
    this.id = this._newJob(queue, module, moduleName, attempt);
    for (const [name, value] of Object.entries(annotations)) {
      this.state.jobs.get(this.id).annotations.set(name, JSON.stringify(value));
    }
  }

  /** Every job put (by put, putHeld, callbacks, composite parts), decoded. */
  get puts() {
    return this.state.puts;
  }
  /** Every callback added: `{id, job, on, request}`. */
  get callbacks() {
    return this.state.callbacks;
  }
  /** Every composite: `{id, kind, parts, postprocess, partCallbacks}`. */
  get composites() {
    return this.state.composites;
  }
  /** Every getLiveAnnotation call: `{job, name, timeout, found}`. */
  get waits() {
    return this.state.waits;
  }

  _newJob(queue, module, moduleName, attempt = 1) {
    const id = `0190a5c0-0000-7000-8000-${(this.state.next++).toString(16).padStart(12, "0")}`;
    this.state.jobs.set(id, {
      info: { id, queue, module, moduleName, function: "", args: "[]", attempt },
      annotations: new Map(),
      held: null,
    });
    return id;
  }

  _known(job) {
    const id = job ?? this.id;
    if (!this.state.jobs.has(id)) throw new ContextError(`job ${id} does not exist`);
    return id;
  }

  /** Adds another job (same queue and module) and returns its id. */
  addJob() {
    const me = this.state.jobs.get(this.id).info;
    return this._newJob(me.queue, me.module, me.moduleName);
  }

  /** A view of the same fake as job `id`. */
  forJob(id) {
    this._known(id);
    const view = Object.create(FakeContext.prototype);
    view.state = this.state;
    view.id = id;
    return view;
  }

  /** Annotation `name` of this job (or `job`), decoded, or undefined. */
  annotation(name, job) {
    const text = this.state.jobs.get(job ?? this.id).annotations.get(name);
    return text === undefined ? undefined : JSON.parse(text);
  }

  /** The arguments of a held job not yet put, or null. */
  heldArgs(job) {
    return this.state.jobs.get(job).held;
  }

  /** Runs `fn` with `args` as this job; returns `{value}` / `{awaited}` or throws JobFailed. */
  run(fn, args = []) {
    const job = this.state.jobs.get(this.id);
    job.info = { ...job.info, function: fn, args: JSON.stringify(args) };
    const previous = activate(this);
    let result;
    try {
      result = call(fn, job.info.args);
    } finally {
      deactivate(previous);
    }
    if (result.failure) throw new JobFailed(result.failure);
    if (result.awaited !== undefined) return { awaited: result.awaited, value: undefined };
    return { value: JSON.parse(result.value) };
  }

  /** Runs a job that was put, as a worker would, as that job. */
  runPut(record) {
    return this.forJob(record.id).run(record.function, record.args);
  }

  _record(request, held = false) {
    const me = this.state.jobs.get(this.id).info;
    const id = this._newJob(request.queue ?? me.queue, request.module ?? me.module);
    const args = JSON.parse(request.args);
    if (args === null || typeof args !== "object") throw new ContextError("the arguments must be a JSON array or object");
    if (held) this.state.jobs.get(id).held = Array.isArray(args) ? [...args] : [];
    const record = {
      id,
      parent: this.id,
      function: request.function,
      args,
      module: request.module,
      queue: request.queue,
      beginAfterMs: request.beginAfterMs,
      beginByMs: request.beginByMs,
      quotaNames: request.quotaNames,
      retry: request.retry === undefined ? undefined : JSON.parse(request.retry),
      quotaKeys: Object.fromEntries(request.quotaKeys ?? []),
      priority: request.priority ?? 0,
      unique: request.unique,
      broadcast: request.broadcast === true,
    };
    this.state.puts.push(record);
    return record;
  }

  // --- the context interface, in the WIT shapes ---------------------------

  getJob() {
    const job = this.state.jobs.get(this.id);
    return { ...job.info, annotations: [...job.annotations.entries()].sort() };
  }
  setLiveAnnotation(name, value, job) {
    this.state.jobs.get(this._known(job)).annotations.set(name, value);
  }
  getLiveAnnotation(name, timeout, poll, job) {
    const id = this._known(job);
    const value = this.state.jobs.get(id).annotations.get(name);
    this.state.waits.push({ job: id, name, timeout, found: value !== undefined });
    return value;
  }
  put(request) {
    return this._record(request).id;
  }
  /** As the host: the list over the maximum or a broadcast refused, every request checked first. */
  putMany(requests) {
    if (requests.length > PUT_MANY_MAX) {
      throw new ContextError(
        `put-many takes at most ${PUT_MANY_MAX} requests; this list holds ${requests.length}: split it into several calls`,
      );
    }
    requests.forEach((request, index) => {
      if (request.broadcast) {
        throw new ContextError(
          `item ${index}: a request of put-many cannot be a broadcast: put a broadcast on its own, with \`put\``,
        );
      }
      const args = JSON.parse(request.args);
      if (!request.function || args === null || typeof args !== "object") {
        throw new ContextError(`item ${index}: a request needs a function name and a JSON array or object of arguments`);
      }
    });
    return requests.map((request) => ({ id: this._record(request).id, duplicate: false }));
  }
  addCallback(job, on, request) {
    this._known(job);
    const record = this._record(request);
    this.state.callbacks.push({ id: record.id, job, on, request: record });
    return record.id;
  }
  putComposite(kind, parts, postprocess) {
    const me = this.state.jobs.get(this.id).info;
    const id = this._newJob(me.queue, me.module);
    this.state.composites.push({
      id,
      kind,
      parts: parts.map((p) => this._record(p)),
      postprocess: this._record(postprocess),
      partCallbacks: {},
    });
    return id;
  }
  addPart(composite, part, callbacks) {
    const record = this.state.composites.find((c) => c.id === composite);
    if (!record) throw new ContextError(`job ${composite} is not a composite`);
    const partRecord = this._record(part);
    record.parts.push(partRecord);
    record.partCallbacks[partRecord.id] = callbacks.map(([on, r]) => [on, this._record(r)]);
    return partRecord.id;
  }
  putHeld(request) {
    return this._record(request, true).id;
  }
  appendArgs(job, args, putWhen) {
    const entry = this.state.jobs.get(this._known(job));
    if (entry.held === null) throw new ContextError(`job ${job} is not a held job, or was put already`);
    const items = JSON.parse(args);
    if (!Array.isArray(items)) throw new ContextError("the arguments to append must be a JSON array");
    entry.held.push(...items);
    const count = entry.held.length;
    if (count >= putWhen) {
      this.state.puts.find((p) => p.id === job).args = [...entry.held];
      entry.held = null;
    }
    return count;
  }
}
