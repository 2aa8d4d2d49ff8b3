// The overview: every queue the token may read with its jobs by state,
// paused or not, its last hour as a chart (GET /v1/activity); and, for an
// admin, the dispatchers alive with their agents and how full they are,
// and on each queue's card the agents that serve it (queue ↔ agents).

import { api, get, isAdmin, may, post, query, queuePath } from "./api.js";
import { act, actionButton, ago, badge, duration, fill, h, patch, queueLabel, shortId } from "./ui.js";
import { throughputChart } from "./chart.js";

const STATES = ["pending", "active", "succeeded", "failed", "cancelled"];
const OTHER_STATES = ["new", "assigned", "callbacks"];
const REMOVABLE = ["completed", "succeeded", "failed", "cancelled"];

function jobsLink(queue, state) {
  return `#/jobs${query({ queue: queue === "" ? "default" : queue, status: state })}`;
}

/** A meter of an agent's slots held. */
function fullness(held, size) {
  return h("meter", { min: 0, max: size || 1, value: held, title: `${held} of ${size} slots held` });
}

/** The agents serving a queue, each with how full it is (admin only). */
function servedBy(agents) {
  if (!agents) return null;
  return h("div", { class: "served", "aria-label": "agents serving this queue" },
    h("span", { class: "muted small" }, "Served by"),
    agents.length
      ? h("ul", { class: "agents" }, agents.map((a) => h("li", {
        "data-agent": a.name, "data-dispatcher": a.dispatcher, "data-held": a.held, "data-size": a.size,
      },
      h("span", { class: "mono small", title: a.dispatcher }, `${shortId(a.dispatcher).slice(0, 8)}/${a.name}`),
      " ", fullness(a.held, a.size), h("span", { class: "small" }, ` ${a.held}/${a.size}`),
      a.paused ? badge("paused") : null)))
      : h("span", { class: "small st-stuck" }, " no running agent: its jobs wait"));
}

function queueCard(queue, activity, refresh) {
  const counts = h("div", { class: "counts" });
  for (const state of [...STATES, ...OTHER_STATES]) {
    const n = queue.states[state] || 0;
    if (!n && OTHER_STATES.includes(state)) continue;
    counts.append(h("div", { class: `count st-${state}` },
      h("a", { href: jobsLink(queue.name, state), "aria-label": `${n} ${state} in ${queueLabel(queue.name)}` },
        h("b", {}, n.toLocaleString()), h("span", {}, state))));
  }
  const f = queue.finished;
  const done = f.succeeded + f.failed;
  const rate = done ? `${((f.failed / done) * 100).toFixed(1)}% failed` : "no jobs finished";
  const actions = h("div", { class: "card-actions" });
  const name = queueLabel(queue.name);
  if (may("manage", queue.name)) {
    actions.append(queue.paused
      ? actionButton("Resume", {
        title: `Resume queue ${name}?`, text: "Dispatchers claim its jobs again at once.",
        confirm: "Resume", danger: false,
        run: () => post(`/queues/${queuePath(queue.name)}/resume`),
        success: `Queue ${name} resumed`, done: refresh,
      }, { "data-action": "resume" })
      : actionButton("Pause", {
        title: `Pause queue ${name}?`,
        text: "No dispatcher claims its jobs until it is resumed; running jobs go on.",
        confirm: "Pause",
        run: () => post(`/queues/${queuePath(queue.name)}/pause`),
        success: `Queue ${name} paused`, done: refresh,
      }, { "data-action": "pause" }));
  }
  if (isAdmin()) actions.append(removeButton(queue, refresh));
  return h("article", { class: "panel queue-card", "aria-label": `queue ${name}` },
    h("header", {},
      h("h3", {}, h("a", { href: jobsLink(queue.name) }, name)),
      queue.paused ? badge("paused") : badge("running", "processing")),
    counts,
    servedBy(queue.agents),
    throughputChart(queue.buckets, activity.bucket_ms, activity.until),
    h("div", { class: "legend" },
      h("span", {}, h("i", { class: "s" }), `${f.succeeded} succeeded`),
      h("span", {}, h("i", { class: "f" }), `${f.failed} failed`),
      h("span", {}, h("i", { class: "c" }), `${f.cancelled} cancelled`)),
    h("div", { class: "row spread small muted" },
      h("span", {}, `last hour: ${(done / 60).toFixed(2)} jobs/min, ${rate}`),
      h("span", { title: "mean wait from the time a job could begin to its start" },
        `wait ${duration(queue.mean_wait_ms)}`)),
    actions);
}

function removeButton(queue, refresh) {
  const name = queueLabel(queue.name);
  const select = h("select", { id: `remove-${name}`, multiple: true, size: 4, "aria-label": "statuses to remove" },
    REMOVABLE.map((s) => h("option", { value: s, selected: s === "completed" || s === "cancelled" }, s)));
  const extra = h("label", { for: `remove-${name}` }, "Statuses to remove", select);
  return actionButton("Remove finished…", {
    title: `Remove finished jobs of ${name}?`,
    text: "The jobs in the chosen statuses are deleted with their annotations. This cannot be undone.",
    confirm: "Remove", extra,
    run: () => post("/jobs/remove", {
      queue: queue.name, statuses: [...select.selectedOptions].map((o) => o.value),
    }),
    success: (r) => `Removed ${Object.values(r.removed).reduce((a, b) => a + b, 0)} jobs from ${name}`,
    done: refresh,
  }, { "data-action": "remove" });
}

async function dispatcherRows() {
  const dispatchers = (await get("/dispatchers")).dispatchers.filter((d) => !d.deactivated_at);
  return Promise.all(dispatchers.map(async (d) => {
    const [status, fullness] = await Promise.all([
      get(`/dispatchers/${d.id}/status`),
      Promise.all(d.agents.map((a) => get(`/jobs/count${query({
        dispatcher: d.id, agent: a.name, queue: a.queue === "" ? "default" : a.queue, state: "assigned,active",
      })}`).then((c) => c.count))),
    ]);
    return { ...d, status: status.status, paused: status.paused, fullness };
  }));
}

function agentLine(d, agent, held, refresh) {
  const pct = Math.min(100, Math.round((held / Math.max(1, agent.size)) * 100));
  const sizeInput = h("input", { type: "number", min: 0, max: 1000, value: agent.size, id: `size-${d.id}-${agent.name}` });
  return h("li", {},
    h("span", { class: "mono" }, `${queueLabel(agent.queue)}/${agent.name}`), " ",
    fullness(held, agent.size),
    ` ${held}/${agent.size} (${pct}%) `,
    actionButton("Resize", {
      title: `Resize agent ${agent.name}?`, text: "How many jobs it may run at once.",
      confirm: "Resize", danger: false,
      extra: h("label", { for: sizeInput.id }, "Size", sizeInput),
      run: () => api("PUT", `/dispatchers/${d.id}/agents/${queuePath(agent.queue)}/${encodeURIComponent(agent.name)}`,
        { ...agent, size: Number(sizeInput.value) }),
      success: `Agent ${agent.name} resized`, done: refresh,
    }, { "data-action": "resize" }));
}

function dispatcherRow(d, refresh) {
  const state = d.paused ? "paused" : d.status.toLowerCase();
  return h("tr", {},
    h("td", { class: "mono", title: d.id }, shortId(d.id)),
    h("td", { class: "hide-narrow" }, `${d.hostname} · pid ${d.pid}`),
    h("td", {}, badge(state, d.paused ? "paused" : d.status)),
    h("td", { class: "hide-narrow" }, ago(d.last_ping_at)),
    h("td", {}, d.agents.length
      ? h("ul", { class: "tree" }, d.agents.map((a, i) => agentLine(d, a, d.fullness[i], refresh)))
      : h("span", { class: "muted" }, "no agents")),
    h("td", {}, d.paused
      ? actionButton("Resume", {
        title: "Resume this dispatcher?", text: "It claims jobs again at once.", confirm: "Resume", danger: false,
        run: () => post(`/dispatchers/${d.id}/resume`), success: "Dispatcher resumed", done: refresh,
      })
      : actionButton("Pause", {
        title: "Pause this dispatcher?", text: "It claims no new jobs until resumed; running jobs go on.",
        confirm: "Pause", run: () => post(`/dispatchers/${d.id}/pause`), success: "Dispatcher paused", done: refresh,
      })));
}

/** The overview section. */
export async function overview(container) {
  const grid = h("div", { class: "grid", id: "queues" });
  const dispatchers = h("tbody", { id: "dispatchers" });
  const summary = h("p", { class: "muted small" });
  fill(container,
    h("div", { class: "row spread" }, h("h1", {}, "Overview"), summary),
    h("section", { "aria-labelledby": "queues-title" }, h("h2", { id: "queues-title" }, "Queues"), grid),
    isAdmin() && h("section", { "aria-labelledby": "dispatchers-title" },
      h("h2", { id: "dispatchers-title" }, "Dispatchers"),
      h("div", { class: "panel table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {},
          h("th", {}, "Id"), h("th", { class: "hide-narrow" }, "Process"), h("th", {}, "Status"),
          h("th", { class: "hide-narrow" }, "Last ping"), h("th", {}, "Agents (held / size)"), h("th", {}, ""))),
        dispatchers))));

  async function refresh() {
    const [activity, rows] = await Promise.all([
      get("/activity?window=1h&buckets=12"),
      isAdmin() ? dispatcherRows() : Promise.resolve([]),
    ]);
    const totals = activity.queues.reduce((t, q) => {
      for (const [k, v] of Object.entries(q.states)) t[k] = (t[k] || 0) + v;
      return t;
    }, {});
    fill(summary, `${activity.queues.length} queues · ${(totals.pending || 0).toLocaleString()} pending · ` +
      `${(totals.active || 0).toLocaleString()} active · ${(totals.failed || 0).toLocaleString()} failed`);
    // Each queue with the agents serving it (what the admin's rows say).
    const agentsOf = (name) => (isAdmin() ? rows.flatMap((d) => d.agents
      .map((a, i) => ({ dispatcher: d.id, name: a.name, queue: a.queue, size: a.size, held: d.fullness[i], paused: d.paused }))
      .filter((a) => a.queue === name)) : undefined);
    patch(grid, activity.queues.map((q) => ({
      key: q.name, data: { ...q, agents: agentsOf(q.name) }, render: (data) => queueCard(data, activity, refresh),
    })));
    if (!activity.queues.length) fill(grid, h("p", { class: "empty" }, "No queue this token may read."));
    if (isAdmin()) {
      patch(dispatchers, rows.map((d) => ({
        key: d.id, data: { ...d, last_ping_at: undefined }, render: () => dispatcherRow(d, refresh),
      })));
      if (!rows.length) fill(dispatchers, h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No dispatcher is running.")));
    }
  }
  await refresh();
  return { refresh };
}
