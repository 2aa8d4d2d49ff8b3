// Small building blocks of the pages: elements, times, badges, the
// confirmation dialog and the toasts. No framework: the DOM is built with
// `h` and text is always set as text (never as HTML).

/**
 * Builds an element: `h("a", {href: "#/"}, "text", child)`. Attributes
 * starting with `on` are listeners; `class`, `data-*`, `aria-*` as given;
 * `false`/`null` children and attributes are left out.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "value") {
      el.value = value;
    } else if (key === "checked" || key === "disabled" || key === "selected") {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === false || child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A queue's name as people read it. */
export function queueLabel(name) {
  return name === "" ? "default" : name;
}

/** A job id shortened for tables (its full value in the title). */
export function shortId(id) {
  return id ? `${id.slice(0, 8)}…${id.slice(-4)}` : "";
}

/** A time as local date and time, with seconds. */
export function time(value) {
  if (!value) return "—";
  const d = new Date(value);
  return d.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

/** "3 s ago", "in 2 min". */
export function ago(value) {
  if (!value) return "";
  const seconds = Math.round((new Date(value).getTime() - Date.now()) / 1000);
  const abs = Math.abs(seconds);
  const text = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min`
    : abs < 86400 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`;
  return seconds <= 0 ? `${text} ago` : `in ${text}`;
}

/** A time element: local time, and how long ago in its title. */
export function when(value) {
  if (!value) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: value, title: ago(value) }, time(value));
}

/** A duration in milliseconds, readable. */
export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3600000) return `${(ms / 60000).toFixed(1)} min`;
  return `${(ms / 3600000).toFixed(1)} h`;
}

/** A byte size, readable. */
export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

/**
 * A module's job functions: its exports listed as `function NAME` (the
 * others, such as the `run` entry point, are the contract's).
 */
export function jobFunctions(module) {
  return module.exports.filter((e) => e.startsWith("function ")).map((e) => e.slice(9));
}

/** A job's state as people read it: completed jobs succeeded or failed. */
export function jobState(job) {
  if (job.status === "completed") return job.failure ? "failed" : "succeeded";
  return job.status;
}

/** A coloured badge for a state. */
export function badge(state, label = state) {
  return h("span", { class: `badge st-${state}` }, label);
}

/** JSON, indented. */
export function json(value) {
  return h("pre", { class: "mono" }, JSON.stringify(value, null, 2));
}

/** Shows a short message in the corner for a few seconds. */
export function toast(message, kind = "ok") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast ${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 3000);
}

/**
 * Asks before an action: resolves to true when confirmed. `extra` is an
 * element shown in the dialog (a field the action reads).
 */
export function confirmAction(title, text, { confirm = "Confirm", danger = true, extra = null } = {}) {
  const dialog = document.getElementById("confirm");
  fill(document.getElementById("confirm-title"), title);
  fill(document.getElementById("confirm-text"), text);
  fill(document.getElementById("confirm-extra"), extra);
  const yes = document.getElementById("confirm-yes");
  yes.textContent = confirm;
  yes.className = danger ? "danger" : "";
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    (extra && extra.querySelector("input, select")) ? extra.querySelector("input, select").focus() : yes.focus();
  });
}

/**
 * Runs an action after confirmation, then says how it went and calls
 * `done` (to refresh what it changed).
 */
export async function act({ title, text, confirm, danger = true, extra, run, success, done }) {
  if (!(await confirmAction(title, text, { confirm, danger, extra }))) return false;
  try {
    const result = await run();
    toast(typeof success === "function" ? success(result) : success);
    if (done) await done(result);
    return true;
  } catch (e) {
    toast(e.message, "error");
    return false;
  }
}

/** A button that confirms and runs an action. */
export function actionButton(label, options, attrs = {}) {
  return h("button", {
    class: options.danger === false ? "secondary small" : "secondary small",
    type: "button",
    ...attrs,
    onclick: () => act(options),
  }, label);
}

/** An error shown in place of a page's content. */
export function errorBox(error) {
  return h("div", { class: "panel failure", role: "alert" },
    h("h3", {}, error.status ? `Error ${error.status}` : "Error"),
    h("p", {}, error.message));
}

/**
 * Updates `container` to show `entries` ([{key, data, render}]) in order,
 * rebuilding only the entries whose data changed: a live refresh leaves
 * the rest alone, and keeps the focus where the keyboard left it.
 */
export function patch(container, entries) {
  const old = new Map();
  for (const child of container.children) old.set(child.dataset.key, child);
  const nodes = entries.map(({ key, data, render }) => {
    const sig = JSON.stringify(data);
    const existing = old.get(key);
    if (existing && existing.dataset.sig === sig) return existing;
    const node = render(data);
    node.dataset.key = key;
    node.dataset.sig = sig;
    if (existing && existing.contains(document.activeElement)) {
      // Keep the keyboard's place: focus the same control in the new node.
      const index = [...existing.querySelectorAll("button, a, input, select")].indexOf(document.activeElement);
      queueMicrotask(() => {
        const again = node.querySelectorAll("button, a, input, select")[index];
        if (again) again.focus();
      });
    }
    return node;
  });
  nodes.forEach((node, i) => {
    if (container.children[i] !== node) container.insertBefore(node, container.children[i] || null);
  });
  while (container.children.length > nodes.length) container.lastElementChild.remove();
}
