/**
 * Registration of job functions and the call of one by name with JSON
 * arguments, exactly as the component's `run` export does it.
 *
 * Positional arguments (a JSON array) are passed as they are. Named ones (a
 * JSON object) are matched to the parameter names read from the function's
 * source (`function f(a, b = 1)`, arrows too), or to `params` given at
 * registration (`params: ["name", "greeting?"]`, `?` for one that may be
 * left out). A function whose single parameter is destructured
 * (`({a, b}) => ...`) gets the object itself. A parameter without a
 * default is required; one with a default may be left out.
 */

import { BAD_ARGUMENTS, BAD_RESULT, JobFailure, UNKNOWN_FUNCTION } from "./errors.js";

/** @type {Map<string, {fn: Function, params: Param[] | null}>} */
const registry = new Map();

/** Return `new Await(id)` from a job to make its result that job's result. */
export class Await {
  /** @param {string} jobId */
  constructor(jobId) {
    this.jobId = jobId;
  }
}

/**
 * Registers `fn` as a job function under `options.name` or its own name,
 * and returns it unchanged. `options.params` names its parameters for
 * named arguments when they cannot be read from its source.
 */
export function job(fn, options = {}) {
  if (typeof fn !== "function") {
    throw new TypeError("job() takes a function");
  }
  const name = options.name ?? fn.name;
  if (!name) {
    throw new TypeError("an anonymous function needs job(fn, { name })");
  }
  const existing = registry.get(name);
  if (existing && existing.fn !== fn) {
    throw new Error(`two job functions are named '${name}'`);
  }
  const params = options.params
    ? options.params.map((p) => ({ name: p.replace(/\?$/, ""), hasDefault: p.endsWith("?"), rest: false }))
    : parseParams(fn);
  registry.set(name, { fn, params });
  return fn;
}

/** Registers every function of `{ name: fn, ... }` under its key; returns the object. */
export function jobs(functions) {
  for (const [name, fn] of Object.entries(functions)) {
    job(fn, { name });
  }
  return functions;
}

/** The names of the registered job functions, in registration order. */
export function registered() {
  return [...registry.keys()];
}

/**
 * @typedef {{name: string | null, hasDefault: boolean, rest: boolean}} Param
 */

/** The parameters of `fn` from its source, or null if unreadable. */
export function parseParams(fn) {
  const source = Function.prototype.toString.call(fn);
  let list;
  const arrow = /^\s*(?:async\s*)?([A-Za-z_$][\w$]*)\s*=>/.exec(source);
  if (arrow) {
    list = arrow[1];
  } else {
    const open = source.indexOf("(");
    if (open < 0) return null;
    const close = matching(source, open);
    if (close < 0) return null;
    list = source.slice(open + 1, close);
  }
  return splitTopLevel(list)
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
    .map((p) => {
      const rest = p.startsWith("...");
      const body = rest ? p.slice(3).trim() : p;
      const eq = topLevelIndex(body, "=");
      const target = (eq >= 0 ? body.slice(0, eq) : body).trim();
      const name = /^[A-Za-z_$][\w$]*$/.test(target) ? target : null;
      return { name, hasDefault: eq >= 0, rest };
    });
}

function matching(text, open) {
  let depth = 0;
  let quote = null;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") quote = c;
    else if ("([{".includes(c)) depth++;
    else if (")]}".includes(c) && --depth === 0) return i;
  }
  return -1;
}

function splitTopLevel(text) {
  const parts = [];
  let depth = 0;
  let quote = null;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") quote = c;
    else if ("([{".includes(c)) depth++;
    else if (")]}".includes(c)) depth--;
    else if (c === "," && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

function topLevelIndex(text, char) {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if ("([{".includes(c)) depth++;
    else if (")]}".includes(c)) depth--;
    else if (c === char && depth === 0 && text[i + 1] !== ">" && text[i + 1] !== "=") return i;
  }
  return -1;
}

function bad(message) {
  return new JobFailure(BAD_ARGUMENTS, message, { permanent: true });
}

/** The argument list for `fn` from JSON-decoded `args`; throws bad-arguments. */
export function bind(name, entry, args) {
  const { params } = entry;
  const known = params !== null && params.every((p) => p.name !== null || p.rest);
  const rest = params?.some((p) => p.rest) ?? false;
  const fixed = params?.filter((p) => !p.rest) ?? [];
  if (Array.isArray(args)) {
    if (known) {
      if (!rest && args.length > fixed.length) {
        throw bad(`\`${name}\` takes at most ${fixed.length} arguments, got ${args.length}`);
      }
      const missing = fixed.slice(args.length).find((p) => !p.hasDefault);
      if (missing) throw bad(`missing argument \`${missing.name}\` of \`${name}\``);
    }
    return args;
  }
  if (args !== null && typeof args === "object") {
    if (!known || (fixed.length === 1 && fixed[0].name === null)) {
      return [args];
    }
    const names = new Set(fixed.map((p) => p.name));
    for (const key of Object.keys(args)) {
      if (!names.has(key)) throw bad(`\`${name}\` has no parameter \`${key}\``);
    }
    const list = fixed.map((p) => {
      if (Object.hasOwn(args, p.name)) return args[p.name];
      if (!p.hasDefault) {
        throw bad(`missing argument \`${p.name}\` of \`${name}\``);
      }
      return undefined;
    });
    while (list.length > 0 && list[list.length - 1] === undefined) list.pop();
    return list;
  }
  throw bad("the arguments must be a JSON array (positional) or object (named)");
}

/**
 * @typedef {{value: string} | {awaited: string} | {failure: {kind: string, message: string, detail?: string, permanent: boolean}}} CallResult
 */

/** Calls job function `name` with `argsJson` (JSON text); never throws. */
export function call(name, argsJson) {
  const entry = registry.get(name);
  if (!entry) {
    const names = registered().join(", ") || "none";
    return {
      failure: {
        kind: UNKNOWN_FUNCTION,
        message: `no job function \`${name}\` in this module (it has: ${names})`,
        permanent: true,
      },
    };
  }
  let result;
  try {
    let args;
    try {
      args = JSON.parse(argsJson);
    } catch (e) {
      throw bad(`the arguments are not JSON: ${e.message}`);
    }
    result = entry.fn(...bind(name, entry, args));
  } catch (error) {
    return { failure: failureOf(error) };
  }
  if (result instanceof Await) {
    return { awaited: result.jobId };
  }
  if (result && typeof result.then === "function") {
    return {
      failure: {
        kind: BAD_RESULT,
        message: `\`${name}\` returned a Promise: job functions must be synchronous`,
        permanent: true,
      },
    };
  }
  try {
    return { value: JSON.stringify(result === undefined ? null : result) };
  } catch (e) {
    return {
      failure: {
        kind: BAD_RESULT,
        message: `the result of \`${name}\` cannot be turned into JSON: ${e.message}`,
        permanent: true,
      },
    };
  }
}

/** The job-error for a thrown value: kind = its class name, detail = its stack. */
export function failureOf(error) {
  if (error instanceof JobFailure) {
    return {
      kind: error.kind,
      message: error.failureMessage,
      detail: error.detail ?? error.stack,
      permanent: error.permanent,
    };
  }
  if (error instanceof Error) {
    const ctor = error.constructor?.name;
    const kind = error.name && error.name !== "Error" ? error.name : ctor || "Error";
    return {
      kind,
      message: error.message || kind,
      detail: error.stack,
      permanent: error.permanent === true,
    };
  }
  return { kind: "thrown", message: String(error), permanent: false };
}
