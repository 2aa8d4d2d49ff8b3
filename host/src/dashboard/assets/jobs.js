// The jobs list: filters (status, queue, module, function), search by id,
// newest or oldest first, pages, live updates, and batch actions on the
// selected jobs or on every job matching the filters. An admin's list is
// `GET /v1/jobs/query` (every filter); a scoped token's `GET /v1/jobs`
// (status and queue, oldest first), as the API allows each.

import { get, isAdmin, may, post, query } from "./api.js";
import { act, badge, fill, h, jobState, patch, queueLabel, shortId, toast, when } from "./ui.js";
import { putAgain } from "./job.js";

const PAGE = 25;
const ADMIN_STATES = ["pending", "active", "succeeded", "failed", "cancelled", "new", "assigned", "callbacks", "completed"];
const STATUSES = ["pending", "active", "completed", "cancelled", "new", "assigned", "callbacks"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FINISHED = ["completed", "cancelled"];

function filtersOf(params) {
  return {
    status: params.get("status") || "",
    queue: params.get("queue") || "",
    module: params.get("module") || "",
    function: params.get("function") || "",
    order: params.get("order") || (isAdmin() ? "newest" : "oldest"),
  };
}

/** One page of jobs matching `f`, after `cursor`. */
async function fetchPage(f, cursor, limit = PAGE) {
  if (isAdmin()) {
    return get(`/jobs/query${query({
      state: f.status, queue: f.queue, module: f.module, function: f.function,
      order: f.order, after: cursor, limit,
    })}`);
  }
  return get(`/jobs${query({ status: f.status, queue: f.queue, after: cursor, limit })}`);
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
    (admin ? ADMIN_STATES : STATUSES).map((s) => h("option", { value: s, selected: s === f.status }, s)));
  const queueInput = h("input", { id: "f-queue", name: "queue", value: f.queue, placeholder: "any", list: "queues-list" });
  const moduleInput = h("input", { id: "f-module", name: "module", value: f.module, placeholder: "glob: resize*", disabled: !admin });
  const functionInput = h("input", { id: "f-function", name: "function", value: f.function, placeholder: "glob", disabled: !admin });
  const order = h("select", { id: "f-order", name: "order", disabled: !admin },
    h("option", { value: "newest", selected: f.order === "newest" }, "newest first"),
    h("option", { value: "oldest", selected: f.order === "oldest" }, "oldest first"));
  const queues = h("datalist", { id: "queues-list" });
  const search = h("input", { id: "f-id", type: "search", placeholder: "job id", "aria-label": "Find a job by id" });
  const searchError = h("span", { class: "field-error", role: "alert" });

  const filterForm = h("form", {
    class: "filters", role: "search", "aria-label": "Filter jobs",
    onsubmit: (e) => {
      e.preventDefault();
      location.hash = `#/jobs${query({
        status: status.value, queue: queueInput.value.trim(), module: moduleInput.value.trim(),
        function: functionInput.value.trim(), order: order.value,
      })}`;
    },
  },
  field("Status", status), field("Queue", queueInput), field("Module", moduleInput),
  field("Function", functionInput), field("Order", order), queues,
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
  const note = admin ? null : h("p", { class: "muted small" },
    "This token lists jobs oldest first by status and queue; module and function filters need an admin token.");

  fill(container,
    h("div", { class: "row spread" }, h("h1", {}, "Jobs"), searchForm),
    filterForm, note, batch,
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

  function chosen() {
    return page.jobs.filter((j) => selected.has(j.id));
  }

  function renderBatch() {
    const jobsChosen = chosen();
    const cancellable = jobsChosen.filter((j) => !FINISHED.includes(j.status) && may("manage", j.queue));
    const again = jobsChosen.filter((j) => FINISHED.includes(j.status) && may("put", j.queue));
    batch.hidden = !selected.size && !admin;
    fill(batch,
      h("span", {}, `${selected.size} selected`),
      may("manage") && h("button", {
        type: "button", class: "secondary small", disabled: !cancellable.length, "data-action": "cancel-selected",
        onclick: () => act({
          title: `Cancel ${cancellable.length} jobs?`, text: "Pending jobs never run; running ones are interrupted.",
          confirm: "Cancel jobs",
          run: () => each(cancellable, (j) => post(`/jobs/${j.id}/cancel`)),
          success: (n) => `${n} jobs cancelled`, done: afterBatch,
        }),
      }, `Cancel (${cancellable.length})`),
      may("put") && h("button", {
        type: "button", class: "secondary small", disabled: !again.length, "data-action": "again-selected",
        onclick: () => act({
          title: `Put ${again.length} jobs again?`, text: "Each is put as a new job with the same call and arguments.",
          confirm: "Put again", danger: false,
          run: () => each(again, putAgain), success: (n) => `${n} jobs put again`, done: afterBatch,
        }),
      }, `Put again (${again.length})`),
      admin && h("button", {
        type: "button", class: "secondary small", "data-action": "cancel-matching",
        onclick: () => act({
          title: "Cancel every unfinished job matching the filters?",
          text: "Every pending, assigned or active job the current filters match, on every page, is cancelled.",
          confirm: "Cancel all matching",
          run: cancelMatching, success: (n) => `${n} jobs cancelled`, done: afterBatch,
        }),
      }, "Cancel all matching…"),
      selected.size > 0 && h("button", {
        type: "button", class: "secondary small", onclick: () => { selected.clear(); render(); },
      }, "Clear selection"));
  }

  async function each(list, action) {
    let done = 0;
    for (const job of list) {
      await action(job);
      done += 1;
    }
    return done;
  }

  async function cancelMatching() {
    const states = f.status ? [f.status] : ["new", "pending", "assigned", "active"];
    const filters = { ...f, order: "oldest" };
    let done = 0;
    for (const state of states.filter((s) => !["succeeded", "failed", "completed", "cancelled"].includes(s))) {
      let after = "";
      for (;;) {
        const p = await fetchPage({ ...filters, status: state }, after, 500);
        for (const job of p.jobs) {
          try {
            await post(`/jobs/${job.id}/cancel`);
            done += 1;
          } catch (e) {
            if (e.status !== 409) throw e; // finished meanwhile
          }
        }
        if (!p.next) break;
        after = p.next;
      }
    }
    return done;
  }

  async function afterBatch() {
    selected.clear();
    await load();
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
