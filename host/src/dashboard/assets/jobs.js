// The jobs list: filters (status, queue, module, function, time put),
// search by id, newest or oldest first, pages, live updates, and batch
// actions (cancel, delete, put again) on the selected jobs or on every job
// matching the filters, as Oban Web has them. The list is
// `GET /v1/jobs/query` (every filter) for every token: a scoped token's
// answer holds its queues' jobs only. Actions on every job matching stay
// the admin's.

import { get, isAdmin, query } from "./api.js";
import { badge, fill, h, jobState, patch, queueLabel, shortId, toast, when } from "./ui.js";
import { batchActions, countMatching } from "./batch.js";

const PAGE = 25;
const STATES = ["pending", "active", "succeeded", "failed", "cancelled", "new", "assigned", "callbacks", "completed"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function filtersOf(params) {
  return {
    status: params.get("status") || "",
    queue: params.get("queue") || "",
    module: params.get("module") || "",
    function: params.get("function") || "",
    from: params.get("from") || "",
    to: params.get("to") || "",
    order: params.get("order") || "newest",
  };
}

/** A `datetime-local` value (the browser's time zone) as RFC 3339, or "". */
function instant(local) {
  if (!local) return "";
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? "" : t.toISOString();
}

/** The API's filters (`/v1/jobs/query`, `/v1/jobs/count`) of the list's, but the status. */
function filterParams(f) {
  return {
    queue: f.queue, module: f.module, function: f.function,
    created_since: instant(f.from), created_before: instant(f.to),
  };
}

/** One page of jobs matching `f`, after `cursor` (the caller's queues only). */
async function fetchPage(f, cursor, limit = PAGE) {
  return get(`/jobs/query${query({
    ...filterParams(f), state: f.status, order: f.order, after: cursor, limit,
  })}`);
}

function field(label, control) {
  return h("label", { for: control.id }, label, control);
}

/** The jobs section. */
export async function jobs(container, { params }) {
  const f = filtersOf(params);
  const admin = isAdmin();
  const cursors = [];
  let cursor = params.get("after") || "";
  let page = { jobs: [], next: null };
  const selected = new Set();

  const status = h("select", { id: "f-status", name: "status" },
    h("option", { value: "" }, "any"),
    STATES.map((s) => h("option", { value: s, selected: s === f.status }, s)));
  const queueInput = h("input", { id: "f-queue", name: "queue", value: f.queue, placeholder: "any", list: "queues-list" });
  const moduleInput = h("input", { id: "f-module", name: "module", value: f.module, placeholder: "glob: resize*" });
  const functionInput = h("input", { id: "f-function", name: "function", value: f.function, placeholder: "glob" });
  const order = h("select", { id: "f-order", name: "order" },
    h("option", { value: "newest", selected: f.order === "newest" }, "newest first"),
    h("option", { value: "oldest", selected: f.order === "oldest" }, "oldest first"));
  const fromInput = h("input", {
    id: "f-from", name: "from", type: "datetime-local", step: 1, value: f.from,
  });
  const toInput = h("input", {
    id: "f-to", name: "to", type: "datetime-local", step: 1, value: f.to,
  });
  const queues = h("datalist", { id: "queues-list" });
  const search = h("input", { id: "f-id", type: "search", placeholder: "job id", "aria-label": "Find a job by id" });
  const searchError = h("span", { class: "field-error", role: "alert" });

  const filterForm = h("form", {
    class: "filters", role: "search", "aria-label": "Filter jobs",
    onsubmit: (e) => {
      e.preventDefault();
      location.hash = `#/jobs${query({
        status: status.value, queue: queueInput.value.trim(), module: moduleInput.value.trim(),
        function: functionInput.value.trim(), from: fromInput.value, to: toInput.value,
        order: order.value,
      })}`;
    },
  },
  field("Status", status), field("Queue", queueInput), field("Module", moduleInput),
  field("Function", functionInput), field("Put from", fromInput), field("Put before", toInput),
  field("Order", order), queues,
  h("button", { type: "submit" }, "Filter"),
  h("a", { class: "button secondary", href: "#/jobs" }, "Clear"));
  for (const control of [status, order]) control.addEventListener("change", () => filterForm.requestSubmit());

  const searchForm = h("form", {
    class: "row", role: "search",
    onsubmit: async (e) => {
      e.preventDefault();
      const id = search.value.trim();
      if (!UUID.test(id)) {
        fill(searchError, "A job id looks like 0193b2d4-…-…: 36 characters.");
        return;
      }
      try {
        await get(`/jobs/${id}`);
        location.hash = `#/jobs/${id}`;
      } catch (err) {
        fill(searchError, err.status === 404 ? `No job ${id}.` : err.message);
      }
    },
  }, search, h("button", { type: "submit", class: "secondary" }, "Find"), searchError);

  const body = h("tbody", { id: "job-rows" });
  const all = h("input", { type: "checkbox", "aria-label": "Select every job of this page" });
  all.addEventListener("change", () => {
    for (const job of page.jobs) all.checked ? selected.add(job.id) : selected.delete(job.id);
    render();
  });
  const batch = h("div", { class: "batch", hidden: true, role: "region", "aria-label": "Batch actions" });
  const pager = h("div", { class: "pager" });

  fill(container,
    h("div", { class: "row spread" }, h("h1", {}, "Jobs"), searchForm),
    filterForm, batch,
    h("div", { class: "panel table-wrap" }, h("table", { "aria-label": "Jobs" },
      h("thead", {}, h("tr", {},
        h("th", {}, all), h("th", {}, "Id"), h("th", {}, "Status"), h("th", {}, "Queue"),
        h("th", {}, "Call"), h("th", { class: "hide-narrow" }, "Created"),
        h("th", { class: "hide-narrow num" }, "Attempts"))),
      body)),
    pager);

  function row(job) {
    const box = h("input", {
      type: "checkbox", checked: selected.has(job.id), "aria-label": `Select job ${job.id}`,
      onchange: (e) => {
        e.target.checked ? selected.add(job.id) : selected.delete(job.id);
        renderBatch();
      },
    });
    return h("tr", { "data-id": job.id, "data-state": jobState(job) },
      h("td", {}, box),
      h("td", { class: "mono" }, h("a", { href: `#/jobs/${job.id}`, title: job.id }, shortId(job.id))),
      h("td", {}, badge(jobState(job))),
      h("td", {}, queueLabel(job.queue)),
      h("td", { class: "mono" }, `${job.module_name || job.module.slice(0, 12)}:${job.function}`),
      h("td", { class: "hide-narrow" }, when(job.created_at)),
      h("td", { class: "hide-narrow num" }, job.attempts));
  }

  function render() {
    patch(body, page.jobs.map((job) => ({
      key: job.id,
      data: { s: jobState(job), a: job.attempts, sel: selected.has(job.id) },
      render: () => row(job),
    })));
    if (!page.jobs.length) fill(body, h("tr", {}, h("td", { colspan: 7, class: "empty" }, "No job matches.")));
    all.checked = page.jobs.length > 0 && page.jobs.every((j) => selected.has(j.id));
    renderBatch();
    fill(pager,
      h("button", {
        type: "button", class: "secondary", disabled: !cursors.length,
        onclick: () => { cursor = cursors.pop(); load(); },
      }, "← Previous"),
      h("span", { class: "muted small" }, `page ${cursors.length + 1}`),
      h("button", {
        type: "button", class: "secondary", disabled: !page.next,
        onclick: () => { cursors.push(cursor); cursor = page.next; load(); },
      }, "Next →"));
  }

  function renderBatch() {
    batchActions(batch, {
      selection: page.jobs.filter((j) => selected.has(j.id)),
      admin, filters: f, list: fetchPage,
      count: (filters, states) => countMatching(filterParams(filters), states),
      done: async () => { selected.clear(); await load(); },
      clear: () => { selected.clear(); render(); },
    });
  }

  async function load() {
    page = await fetchPage(f, cursor);
    render();
  }

  get("/queues").then(({ queues: list }) => fill(queues,
    list.map((q) => h("option", { value: queueLabel(q.name) })))).catch((e) => toast(e.message, "error"));
  await load();
  return { refresh: load };
}
