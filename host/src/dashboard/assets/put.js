// Put a job from a form: module, function (the module's exports), queue,
// JSON arguments checked in the page as they are typed, and an optional
// start time (`POST /v1/jobs`).

import { get, post } from "./api.js";
import { fill, h, jobFunctions, queueLabel, toast } from "./ui.js";

/**
 * Why `text` is not a job's arguments (null when it is): JSON, and an
 * array (positional) or an object (named); empty means none.
 */
export function argsProblem(text) {
  if (!text.trim()) return null;
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return `Not JSON: ${e.message}`;
  }
  if (typeof value !== "object" || value === null) {
    return "Arguments are an array (positional) or an object (named).";
  }
  return null;
}

/** The put section. */
export async function putForm(container) {
  const [{ modules }, { queues }] = await Promise.all([get("/modules"), get("/queues")]);
  const module = h("select", { id: "put-module", name: "module", required: true },
    modules.map((m) => h("option", { value: m.name || m.digest }, m.name || m.digest.slice(0, 16))));
  const fn = h("select", { id: "put-function", name: "function", required: true });
  const queue = h("select", { id: "put-queue", name: "queue" },
    queues.map((q) => h("option", { value: q.name }, queueLabel(q.name))));
  const args = h("textarea", {
    id: "put-args", name: "args", spellcheck: "false", "aria-describedby": "args-error",
    placeholder: '{"name": "Ada"}  or  ["Ada"]',
  });
  const beginAfter = h("input", { id: "put-begin", name: "begin_after", type: "datetime-local" });
  const argsError = h("p", { id: "args-error", class: "field-error", role: "alert" });
  const submit = h("button", { type: "submit" }, "Put the job");

  function exports() {
    const chosen = modules.find((m) => (m.name || m.digest) === module.value);
    fill(fn, (chosen ? jobFunctions(chosen) : []).map((e) => h("option", { value: e }, e)));
  }
  function check() {
    const problem = argsProblem(args.value);
    fill(argsError, problem || "");
    args.setAttribute("aria-invalid", problem ? "true" : "false");
    submit.disabled = Boolean(problem) || !module.value;
    return !problem;
  }
  module.addEventListener("change", exports);
  args.addEventListener("input", check);
  exports();
  check();

  const form = h("form", {
    class: "panel stack", "aria-label": "Put a job",
    onsubmit: async (e) => {
      e.preventDefault();
      if (!check()) return;
      const body = { module: module.value, function: fn.value, queue: queue.value };
      if (args.value.trim()) body.args = JSON.parse(args.value);
      if (beginAfter.value) body.begin_after = new Date(beginAfter.value).toISOString();
      submit.disabled = true;
      try {
        const job = await post("/jobs", body);
        toast(`Job put: ${job.id}`);
        location.hash = `#/jobs/${job.id}`;
      } catch (err) {
        fill(argsError, err.message);
        toast(err.message, "error");
      } finally {
        submit.disabled = false;
      }
    },
  },
  h("div", { class: "form-grid" },
    h("label", { for: "put-module" }, "Module", module),
    h("label", { for: "put-function" }, "Function", fn),
    h("label", { for: "put-queue" }, "Queue", queue),
    h("label", { for: "put-begin" }, "Begin after (optional)", beginAfter)),
  h("label", { for: "put-args" }, "Arguments (JSON)", args),
  argsError,
  h("div", { class: "row" }, submit));
  fill(container, h("h1", {}, "Put a job"),
    modules.length ? form : h("p", { class: "empty" }, "Upload a module first (Modules)."));
  return { refresh: null };
}
