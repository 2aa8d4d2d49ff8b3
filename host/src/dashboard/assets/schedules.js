// Schedules: each with its timing, next call times and latest runs, and
// pause/resume (`/v1/schedules`). The server gives the next call time; the
// ones after it are worked out here from the timing, as the scheduler
// does (a delay's grid; a cron spec's lists, UTC, 0 = Monday).

import { get, may, post } from "./api.js";
import {
  actionButton, ago, badge, duration, fill, h, jobState, patch, queueLabel, shortId, when,
} from "./ui.js";

function timing(t) {
  if (t.kind === "delay") return `every ${duration(t.delay_ms)}`;
  if (t.expression) return `cron ${t.expression} (UTC)`;
  return `cron (UTC) ${JSON.stringify({ ...t, kind: undefined })}`;
}

/** How many call times a schedule shows. */
const CALLS_SHOWN = 3;
const MINUTE = 60_000;

/** Whether `list` (empty: any value) holds `value`. */
const allows = (list, value) => !list || !list.length || list.includes(value);

/**
 * The first time after `t` (a Date) that the cron `spec` matches, as
 * `CronSpec::next_after` finds it: month, then day (of the month and of the
 * week, 0 = Monday), hour, minute, skipping what cannot match. Gives up
 * (null) after ten years.
 */
export function cronNext(spec, t) {
  let c = new Date(Math.floor(t.getTime() / MINUTE) * MINUTE + MINUTE);
  const last = c.getUTCFullYear() + 10;
  while (c.getUTCFullYear() <= last) {
    if (!allows(spec.month, c.getUTCMonth() + 1)) {
      c = new Date(Date.UTC(c.getUTCFullYear(), c.getUTCMonth() + 1, 1));
    } else if (!allows(spec.day_of_month, c.getUTCDate())
      || !allows(spec.day_of_week, (c.getUTCDay() + 6) % 7)) {
      c = new Date(Date.UTC(c.getUTCFullYear(), c.getUTCMonth(), c.getUTCDate() + 1));
    } else if (!allows(spec.hour, c.getUTCHours())) {
      c = new Date(Date.UTC(c.getUTCFullYear(), c.getUTCMonth(), c.getUTCDate(), c.getUTCHours() + 1));
    } else if (!allows(spec.minute, c.getUTCMinutes())) {
      c = new Date(c.getTime() + MINUTE);
    } else {
      return c;
    }
  }
  return null;
}

/** The schedule's next `CALLS_SHOWN` call times, the server's first. */
function nextCalls(s) {
  if (!s.active || !s.next_call_time) return [];
  const calls = [new Date(s.next_call_time)];
  while (calls.length < CALLS_SHOWN) {
    const prev = calls[calls.length - 1];
    const next = s.timing.kind === "delay"
      ? new Date(prev.getTime() + s.timing.delay_ms)
      : cronNext(s.timing, prev);
    if (!next) break;
    calls.push(next);
  }
  return calls;
}

function scheduleCard(s, runs, refresh) {
  const path = `/schedules/${encodeURIComponent(s.name)}`;
  const manage = may("manage", s.job.queue);
  return h("article", { class: "panel stack", "aria-label": `schedule ${s.name}` },
    h("header", { class: "row spread" },
      h("h3", {}, s.name),
      s.active ? badge("running", "active") : badge("paused")),
    h("dl", { class: "facts" },
      h("dt", {}, "Calls"), h("dd", { class: "mono" }, `${s.job.module}:${s.job.function}`),
      h("dt", {}, "Queue"), h("dd", {}, queueLabel(s.job.queue)),
      h("dt", {}, "Timing"), h("dd", { class: "mono" }, timing(s.timing)),
      h("dt", {}, "Next calls"), h("dd", {}, s.active && s.next_call_time
        ? h("ol", { class: "calls", "aria-label": "next call times" }, nextCalls(s).map((t, i) => h("li", {
          "data-time": t.toISOString(),
        }, when(t.toISOString()), i === 0 ? h("span", { class: "muted" }, ` (${ago(s.next_call_time)})`) : null)))
        : h("span", { class: "muted" }, "none while paused")),
      h("dt", {}, "Last call"), h("dd", {}, when(s.last_call_time)),
      s.last_error ? [h("dt", {}, "Last error"), h("dd", { class: "mono" }, s.last_error)] : null),
    runs.length ? h("div", {}, h("h3", {}, "Latest runs"),
      h("ul", { class: "tree" }, runs.map((r) => h("li", {},
        h("span", { class: "node" },
          h("a", { href: `#/jobs/${r.id}`, class: "mono" }, shortId(r.id)),
          badge(jobState(r)), h("span", { class: "muted small" }, "for"), when(r.occurrence)))))) : null,
    manage && h("div", { class: "card-actions" }, s.active
      ? actionButton("Pause", {
        title: `Pause schedule ${s.name}?`, text: "It puts no job until resumed.", confirm: "Pause",
        run: () => post(`${path}/pause`), success: `Schedule ${s.name} paused`, done: refresh,
      }, { "data-action": "pause-schedule" })
      : actionButton("Resume", {
        title: `Resume schedule ${s.name}?`, text: "It puts its next job at its next call time.",
        confirm: "Resume", danger: false,
        run: () => post(`${path}/resume`), success: `Schedule ${s.name} resumed`, done: refresh,
      }, { "data-action": "resume-schedule" })));
}

/** The schedules section. */
export async function schedules(container) {
  const grid = h("div", { class: "grid", id: "schedules" });
  fill(container, h("h1", {}, "Schedules"), grid);

  async function refresh() {
    const { schedules: list } = await get("/schedules");
    const shown = await Promise.all(list.map((s) =>
      get(`/schedules/${encodeURIComponent(s.name)}?runs=5`).catch(() => s)));
    patch(grid, shown.map((s) => ({
      key: s.name,
      data: s,
      render: () => scheduleCard(s, s.runs || [], refresh),
    })));
    if (!shown.length) fill(grid, h("p", { class: "empty" }, "No schedule. Create one with `wasync schedule create` or POST /v1/schedules."));
  }
  await refresh();
  return { refresh };
}
