// The jobs list's batch actions, as Oban Web has them: cancel, delete or
// put again the selected jobs, or every job matching the list's filters
// (on every page). Deleting takes finished jobs only
// (`POST /v1/jobs/delete`, admin); putting again makes new jobs with the
// same call (`POST /v1/jobs`). Actions on matching jobs first list every
// matching job, then act: jobs they put or finish meanwhile are not
// caught up in the same action.

import { get, may, post, query } from "./api.js";
import { act, fill, h } from "./ui.js";
import { putAgain } from "./job.js";

/** Statuses of jobs that are done (what delete and put again take). */
export const FINISHED_STATES = ["succeeded", "failed", "completed", "cancelled"];
/** Statuses of jobs not yet done (what cancel takes). */
const UNFINISHED_STATES = ["new", "pending", "assigned", "active"];
/** Ids per `POST /v1/jobs/delete` (the server takes up to 1,000). */
const DELETE_CHUNK = 500;

const isFinished = (job) => job.status === "completed" || job.status === "cancelled";

/**
 * The statuses an action on matching jobs goes through: `whenAny` when the
 * filters name no status, else the one named if the action takes it.
 */
function statesFor(filters, whenAny, takes) {
  if (!filters.status) return whenAny;
  return takes.includes(filters.status) ? [filters.status] : [];
}

async function each(list, action) {
  let done = 0;
  for (const job of list) {
    await action(job);
    done += 1;
  }
  return done;
}

/** Cancels `jobs`, counting those cancelled (one finished meanwhile is skipped). */
async function cancelAll(jobs) {
  let done = 0;
  for (const job of jobs) {
    try {
      await post(`/jobs/${job.id}/cancel`);
      done += 1;
    } catch (e) {
      if (e.status !== 409) throw e; // finished meanwhile
    }
  }
  return done;
}

/** Deletes `jobs` (finished ones), `DELETE_CHUNK` ids a request. */
async function deleteAll(jobs) {
  let deleted = 0;
  for (let i = 0; i < jobs.length; i += DELETE_CHUNK) {
    const ids = jobs.slice(i, i + DELETE_CHUNK).map((j) => j.id);
    deleted += (await post("/jobs/delete", { ids })).deleted.length;
  }
  return deleted;
}

/**
 * Fills `bar` with the batch actions. `selection` are the selected jobs
 * of the page, `filters` the list's; `list(filters, after, limit)` pages
 * through the matching jobs and `count(filters, states)` counts them;
 * `done` runs after an action, `clear` empties the selection.
 */
export function batchActions(bar, { selection, admin, filters, list, count, done, clear }) {
  const cancellable = selection.filter((j) => !isFinished(j) && may("manage", j.queue));
  const deletable = admin ? selection.filter(isFinished) : [];
  const again = selection.filter((j) => isFinished(j) && may("put", j.queue));
  const finished = statesFor(filters, ["completed", "cancelled"], FINISHED_STATES);

  /** Every job matching the filters in `states`, oldest first. */
  async function matching(states) {
    const jobs = [];
    for (const state of states) {
      let after = "";
      for (;;) {
        const page = await list({ ...filters, status: state, order: "oldest" }, after, 500);
        jobs.push(...page.jobs);
        if (!page.next) break;
        after = page.next;
      }
    }
    return jobs;
  }

  /** Counts the matching jobs, then asks before acting on every one. */
  async function onMatching({ states: chosen, title, text, confirm, danger, action, success }) {
    const n = chosen.length ? await count(filters, chosen) : 0;
    await act({
      title: title(n), text, confirm, danger,
      run: async () => action(await matching(chosen)), success, done,
    });
  }

  // `data-action` marks what changes the queue (a read-only token has none).
  const button = (label, action, attrs) => h("button", {
    type: "button", class: "secondary small", "data-action": action, ...attrs,
  }, label);

  bar.hidden = !selection.length && !admin;
  fill(bar,
    h("span", {}, `${selection.length} selected`),
    may("manage") && button(`Cancel (${cancellable.length})`, "cancel-selected", {
      disabled: !cancellable.length,
      onclick: () => act({
        title: `Cancel ${cancellable.length} jobs?`, text: "Pending jobs never run; running ones are interrupted.",
        confirm: "Cancel jobs", run: () => cancelAll(cancellable),
        success: (n) => `${n} jobs cancelled`, done,
      }),
    }),
    admin && button(`Delete (${deletable.length})`, "delete-selected", {
      disabled: !deletable.length,
      onclick: () => act({
        title: `Delete ${deletable.length} finished jobs?`,
        text: "They are deleted with their annotations and attempts. This cannot be undone.",
        confirm: "Delete", run: () => deleteAll(deletable),
        success: (n) => `${n} jobs deleted`, done,
      }),
    }),
    may("put") && button(`Put again (${again.length})`, "again-selected", {
      disabled: !again.length,
      onclick: () => act({
        title: `Put ${again.length} jobs again?`, text: "Each is put as a new job with the same call and arguments.",
        confirm: "Put again", danger: false, run: () => each(again, putAgain),
        success: (n) => `${n} jobs put again`, done,
      }),
    }),
    admin && h("span", { class: "muted small" }, "Every job matching the filters:"),
    admin && button("Cancel all…", "cancel-matching", {
      onclick: () => onMatching({
        states: statesFor(filters, UNFINISHED_STATES, UNFINISHED_STATES), title: (n) => `Cancel ${n} unfinished jobs matching the filters?`,
        text: "Every new, pending, assigned or active job the filters match, on every page, is cancelled.",
        confirm: "Cancel all matching", action: cancelAll, success: (n) => `${n} jobs cancelled`,
      }),
    }),
    admin && button("Delete all…", "delete-matching", {
      onclick: () => onMatching({
        states: finished, title: (n) => `Delete ${n} finished jobs matching the filters?`,
        text: "Every completed or cancelled job the filters match, on every page, is deleted with its annotations. This cannot be undone.",
        confirm: "Delete all matching", action: deleteAll, success: (n) => `${n} jobs deleted`,
      }),
    }),
    admin && button("Put all again…", "again-matching", {
      onclick: () => onMatching({
        states: finished, title: (n) => `Put ${n} finished jobs matching the filters again?`,
        text: "Each completed or cancelled job the filters match is put as a new job with the same call and arguments.",
        confirm: "Put all again", danger: false, action: (jobs) => each(jobs, putAgain),
        success: (n) => `${n} jobs put again`,
      }),
    }),
    selection.length > 0 && h("button", { type: "button", class: "secondary small", onclick: clear },
      "Clear selection"));
}

/** `GET /v1/jobs/count` of `filters` in `states` (for the confirmations). */
export async function countMatching(params, states) {
  const { count } = await get(`/jobs/count${query({ ...params, state: states.join(",") })}`);
  return count;
}
