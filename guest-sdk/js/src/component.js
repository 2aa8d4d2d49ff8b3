/**
 * The component side: `makeRun(host)` gives the `run` export
 * componentize-js expects, dispatching to the registered job functions
 * with `host` (the `wasync:job/context` import) as their context. The
 * entry module `wasync-js build` generates calls it; authors never need to.
 */

import { activate, deactivate } from "./backend.js";
import { call } from "./dispatch.js";
import { ContextError } from "./errors.js";

function refused(name, error) {
  const text = typeof error === "string" ? error : (error?.payload ?? error?.message ?? String(error));
  return new ContextError(`${name}: ${text}`);
}

/** The context backend over the host's imports (errors become ContextError). */
export function hostBackend(host) {
  const wrap =
    (name, f) =>
    (...args) => {
      try {
        return f(...args);
      } catch (e) {
        throw refused(name, e);
      }
    };
  return {
    getJob: () => host.getJob(),
    setLiveAnnotation: wrap("setLiveAnnotation", (name, value, job) => host.setLiveAnnotation(name, value, job)),
    getLiveAnnotation: wrap("getLiveAnnotation", (name, timeout, poll, job) =>
      host.getLiveAnnotation(name, timeout, poll, job),
    ),
    put: wrap("put", (request) => host.put(request)),
    putMany: wrap("putMany", (requests) => host.putMany(requests)),
    addCallback: wrap("addCallback", (job, on, request) => host.addCallback(job, on, request)),
    putComposite: wrap("putComposite", (kind, parts, post) => host.putComposite(kind, parts, post)),
    addPart: wrap("addPart", (composite, part, callbacks) => host.addPart(composite, part, callbacks)),
    putHeld: wrap("putHeld", (request) => host.putHeld(request)),
    appendArgs: wrap("appendArgs", (job, args, putWhen) => host.appendArgs(job, args, putWhen)),
  };
}

/** The `run(function, args)` export over `host`. */
export function makeRun(host) {
  const backend = hostBackend(host);
  return function run(fn, args) {
    const previous = activate(backend);
    let result;
    try {
      result = call(fn, args);
    } finally {
      deactivate(previous);
    }
    if (result.failure) {
      const error = new Error(result.failure.message);
      error.payload = result.failure;
      throw error;
    }
    if (result.awaited !== undefined) {
      return { tag: "await-job", val: result.awaited };
    }
    return { tag: "value", val: result.value };
  };
}
