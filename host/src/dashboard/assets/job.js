// A job: its call, arguments, result or failure (kind, message, the
// guest's backtrace), times, attempts with each failure, annotations
// updating live while it runs, the runs' usage, and its callbacks and
// composite parts (and the job it awaits) as a graph (graph.js) and a
// tree of links with their statuses, both following the jobs' statuses
// live.

import { get, may, post } from "./api.js";
import { jobGraph } from "./graph.js";
import {
  act, badge, bytes, duration, fill, h, jobState, json, queueLabel, shortId, when,
} from "./ui.js";

const FINISHED = ["completed", "cancelled"];
/** How deep the tree of callbacks and parts is followed. */
const TREE_DEPTH = 4;

/**
 * Puts `job` again: a new job with the same module, function, arguments,
 * queue, quotas and retry policy (what `POST /v1/jobs` takes).
 */
export function putAgain(job) {
  const body = { module: job.module, function: job.function, args: job.args, queue: job.queue };
  if (job.quota_names && job.quota_names.length) body.quota_names = job.quota_names;
  if (job.retry) body.retry = job.retry;
  return post("/jobs", body);
}

function facts(pairs) {
  return h("dl", { class: "facts" },
    pairs.filter(([, v]) => v !== null && v !== undefined && v !== false)
      .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function failureBox(failure, title = "Failure") {
  return h("section", { class: "panel failure stack", "aria-label": "failure" },
    h("h3", {}, `${title}: ${failure.kind}`),
    h("p", { class: "mono", id: "failure-message" }, failure.message),
    failure.guest_kind && h("p", { class: "muted small" }, `guest error kind: ${failure.guest_kind}`),
    failure.permanent && h("p", { class: "muted small" }, "permanent: not retried"),
    failure.detail && h("div", {},
      h("h3", {}, "Detail and guest backtrace"),
      h("pre", { class: "mono", id: "backtrace" }, failure.detail)));
}

/**
 * The tree of parts, callbacks and the awaited job (a composite's
 * postprocess, a job returned to wait for) under `job`, each linking to
 * its job.
 */
async function links(job, depth) {
  if (depth <= 0) return [];
  const [callbacks, parts, awaited] = await Promise.all([
    get(`/jobs/${job.id}/callbacks`).catch(() => []),
    get(`/jobs/${job.id}/parts`).catch(() => []),
    job.awaiting ? get(`/jobs/${job.awaiting}`).catch(() => null) : null,
  ]);
  const nodes = [
    ...parts.map((part, i) => ({ kind: `part ${i + 1}`, job: part })),
    ...callbacks.map((c) => ({ kind: `callback on ${c.on}`, job: c.job })),
    ...(awaited ? [{ kind: "awaits", job: awaited }] : []),
  ];
  for (const node of nodes) node.children = await links(node.job, depth - 1);
  return nodes;
}

function tree(nodes) {
  return h("ul", {}, nodes.map((node) => h("li", {},
    h("span", { class: "node" },
      h("span", { class: "kind" }, node.kind),
      h("a", { href: `#/jobs/${node.job.id}`, class: "mono", title: node.job.id }, shortId(node.job.id)),
      h("span", { class: "mono" }, node.job.function),
      badge(jobState(node.job))),
    node.children.length ? tree(node.children) : null)));
}

function runsTable(runs) {
  if (!runs.length) return h("p", { class: "muted" }, "No run has ended yet.");
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Attempt", "Ended", "Wall time", "Fuel", "Peak memory"].map((t) => h("th", {}, t)))),
    h("tbody", {}, runs.map((r) => h("tr", {},
      h("td", {}, r.attempt), h("td", {}, when(r.ended_at)), h("td", {}, duration(r.usage.wall_ms)),
      h("td", {}, (r.usage.fuel ?? 0).toLocaleString()),
      h("td", {}, bytes(r.usage.peak_memory_bytes ?? 0)))))));
}

function attemptsList(attempts) {
  if (!attempts.length) return h("p", { class: "muted" }, "No failed attempt.");
  return h("ol", { class: "stack" }, attempts.map((a) => h("li", {},
    h("div", { class: "row" }, h("b", {}, `attempt ${a.attempt}`), when(a.failed_at),
      badge("failed", a.failure.kind)),
    h("div", { class: "mono small" }, a.failure.message),
    a.failure.detail && h("details", {}, h("summary", {}, "detail"), h("pre", {}, a.failure.detail)))));
}

function actions(job, refresh) {
  const bar = h("div", { class: "row" });
  if (!FINISHED.includes(job.status) && may("manage", job.queue)) {
    bar.append(h("button", {
      type: "button", class: "danger", "data-action": "cancel",
      onclick: () => act({
        title: "Cancel this job?",
        text: job.status === "active" ? "It is running: it is interrupted within about a second." : "It will never run.",
        confirm: "Cancel job", run: () => post(`/jobs/${job.id}/cancel`), success: "Job cancelled", done: refresh,
      }),
    }, "Cancel job"));
  }
  if (FINISHED.includes(job.status) && may("put", job.queue)) {
    bar.append(h("button", {
      type: "button", "data-action": "again",
      onclick: () => act({
        title: "Put this job again?", text: "A new job with the same call and arguments is put in its queue.",
        confirm: "Put again", danger: false, run: () => putAgain(job),
        success: (j) => `Put again as ${shortId(j.id)}`, done: (j) => { location.hash = `#/jobs/${j.id}`; },
      }),
    }, "Put again"));
  }
  return bar;
}

/** Refills `el` with `render()` only when `data` changed since last time. */
function changed(el, data, render) {
  const sig = JSON.stringify(data);
  if (el.dataset.sig === sig) return;
  el.dataset.sig = sig;
  fill(el, render());
}

/** The job section: `arg` is the job's id. */
export async function jobDetail(container, { arg: id }) {
  const head = h("div");
  const body = h("div", { class: "stack" });
  const annotations = h("div", { id: "annotations" });
  const graph = h("div", { id: "links" });
  fill(container, head, body);
  let lastSig = "";

  async function refresh() {
    const [job, attempts] = await Promise.all([
      get(`/jobs/${id}`),
      get(`/jobs/${id}/attempts`).then((a) => a.attempts),
    ]);
    const nodes = await links(job, TREE_DEPTH);
    const state = jobState(job);
    const { annotations: notes, ...rest } = job;
    changed(annotations, notes, () => (Object.keys(notes).length
      ? facts(Object.entries(notes).map(([k, v]) => [k, h("pre", { class: "mono" }, JSON.stringify(v, null, 2))]))
      : h("p", { class: "muted" }, "No annotation.")));
    // The graph is redrawn when any of its jobs changes status, this one
    // included: it follows a composite's parts as they run.
    changed(graph, [state, nodes], () => (nodes.length
      ? [h("div", { class: "graph-wrap", id: "graph" }, jobGraph(job, nodes)),
        h("details", {}, h("summary", {}, "As a list"), h("div", { class: "tree" }, tree(nodes)))]
      : h("p", { class: "muted" }, "No callback or part.")));
    const sig = JSON.stringify([rest, attempts]);
    if (sig === lastSig) return;
    lastSig = sig;
    fill(head,
      h("p", { class: "small" }, h("a", { href: "#/jobs" }, "← Jobs")),
      h("div", { class: "row spread" },
        h("h1", { class: "row" }, "Job ", h("span", { class: "mono" }, job.id), badge(state)),
        actions(job, refresh)));
    fill(body,
      h("div", { class: "two" },
        h("section", { class: "panel", "aria-label": "call" },
          h("h3", {}, "Call"),
          facts([
            ["Queue", h("a", { href: `#/jobs?queue=${encodeURIComponent(queueLabel(job.queue))}` }, queueLabel(job.queue))],
            ["Module", h("span", { class: "mono", title: job.module }, job.module_name || job.module)],
            ["Function", h("span", { class: "mono" }, job.function)],
            ["Attempts", String(job.attempts)],
            ["Dispatcher", job.dispatcher && h("span", { class: "mono" }, job.dispatcher)],
            ["Agent", job.agent],
            ["Put by", job.parent && h("a", { href: `#/jobs/${job.parent}`, class: "mono" }, shortId(job.parent))],
            ["Waiting for", job.awaiting && h("a", { href: `#/jobs/${job.awaiting}`, class: "mono" }, shortId(job.awaiting))],
            ["Quotas", job.quota_names && job.quota_names.length ? job.quota_names.join(", ") : null],
            ["Limits", Object.keys(job.limits || {}).length ? JSON.stringify(job.limits) : null],
          ])),
        h("section", { class: "panel", "aria-label": "times" },
          h("h3", {}, "Times"),
          facts([
            ["Created", when(job.created_at)],
            ["Begin after", when(job.begin_after)],
            ["Begin by", job.begin_by_ms ? duration(job.begin_by_ms) + " after" : null],
            ["Started", when(job.started_at)],
            ["Completed", when(job.completed_at)],
            ["Ran for", job.started_at && job.completed_at
              ? duration(new Date(job.completed_at) - new Date(job.started_at)) : null],
          ]))),
      h("section", { class: "panel" }, h("h3", {}, "Arguments"), json(job.args)),
      job.failure ? failureBox(job.failure)
        : "result" in job ? h("section", { class: "panel", "aria-label": "result" }, h("h3", {}, "Result"), json(job.result))
          : null,
      h("section", { class: "panel" }, h("h3", {}, "Annotations ", h("span", { class: "live" }, "live")), annotations),
      h("section", { class: "panel" }, h("h3", {}, "Callbacks and parts"), graph),
      h("section", { class: "panel" }, h("h3", {}, "Failed attempts"), attemptsList(attempts)),
      h("section", { class: "panel" }, h("h3", {}, "Runs and usage"), runsTable(job.runs || [])),
      (job.stdout || job.stderr) && h("section", { class: "panel" },
        h("h3", {}, "Output"),
        job.stdout && h("pre", { "aria-label": "stdout" }, job.stdout),
        job.stderr && h("pre", { "aria-label": "stderr" }, job.stderr)));
  }
  await refresh();
  return { refresh };
}
