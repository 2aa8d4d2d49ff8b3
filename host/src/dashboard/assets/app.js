// The dashboard's shell: the login, the sections chosen by the URL's
// fragment (#/, #/jobs, #/jobs/ID, #/modules, #/schedules, #/put), and the
// live refresh of the section shown (every two seconds while the tab is
// visible, without reloading the page).

import { ApiError, caller, loadCaller, may, setToken, token } from "./api.js";
import { errorBox, fill, h } from "./ui.js";
import { overview } from "./overview.js";
import { jobs } from "./jobs.js";
import { jobDetail } from "./job.js";
import { modules } from "./modules.js";
import { schedules } from "./schedules.js";
import { putForm } from "./put.js";

/** How often the section shown is refreshed. */
const REFRESH_MS = 2000;

const main = () => document.getElementById("main");
let current = null;
let refreshing = false;
let generation = 0;

/** The section and its parameters from the fragment. */
function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split("?");
  const params = new URLSearchParams(search);
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "jobs" && parts[1]) return { section: "jobs", view: jobDetail, arg: decodeURIComponent(parts[1]), params };
  if (parts[0] === "jobs") return { section: "jobs", view: jobs, params };
  if (parts[0] === "modules") return { section: "modules", view: modules, params };
  if (parts[0] === "schedules") return { section: "schedules", view: schedules, params };
  if (parts[0] === "put") return { section: "put", view: putForm, params };
  return { section: "overview", view: overview, params };
}

function markNav(section) {
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
    link.hidden = link.dataset.needs ? !may(link.dataset.needs) : false;
  }
}

function showWho() {
  const who = document.getElementById("who");
  const name = caller.name ? caller.name : "admin";
  const role = caller.admin ? "admin" : caller.scopes.join(", ");
  fill(who,
    h("span", { class: "live", id: "live", title: "Updates every two seconds" }, "live"),
    h("span", { title: `queues: ${caller.queues.join(", ")}` }, `${name} · ${role}`),
    token() ? h("button", { class: "secondary small", type: "button", onclick: signOut }, "Sign out") : null);
}

function signOut() {
  setToken("");
  location.hash = "#/";
  start();
}

/** The login form, for a server that wants a token. */
function login(message) {
  document.getElementById("who").replaceChildren();
  for (const link of document.querySelectorAll("#nav a")) link.hidden = true;
  const input = h("input", {
    type: "password", id: "token", name: "token", autocomplete: "off", required: true,
    "aria-describedby": "login-help",
  });
  const error = h("p", { class: "field-error", role: "alert" }, message || "");
  const form = h("form", {
    class: "panel login stack",
    onsubmit: async (event) => {
      event.preventDefault();
      setToken(input.value.trim());
      await start();
    },
  },
  h("h1", {}, "Sign in"),
  h("label", { for: "token" }, "Token"),
  input,
  h("p", { id: "login-help", class: "muted small" },
    "The server's admin token or a scoped token. It is kept in this tab only and sent to this server's API."),
  error,
  h("button", { type: "submit" }, "Sign in"));
  fill(main(), form);
  input.focus();
}

/** Shows the section of the current fragment. */
async function show() {
  const mine = ++generation;
  if (current && current.stop) current.stop();
  current = null;
  const { section, view, arg, params } = route();
  markNav(section);
  const container = h("div");
  fill(main(), container);
  try {
    const shown = await view(container, { arg, params });
    if (mine === generation) current = shown;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return login("That token is not valid here.");
    fill(container, errorBox(e));
  }
}

async function tick() {
  if (!current || !current.refresh || refreshing || document.hidden) return;
  refreshing = true;
  const live = document.getElementById("live");
  try {
    await current.refresh();
    if (live) live.classList.remove("off");
  } catch (e) {
    if (live) live.classList.add("off");
    if (e instanceof ApiError && e.status === 401) {
      current = null;
      login("The token was refused; sign in again.");
    }
  } finally {
    refreshing = false;
  }
}

async function start() {
  try {
    await loadCaller();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return login(token() ? "That token is not valid here." : "");
    fill(main(), errorBox(e));
    return;
  }
  showWho();
  await show();
}

window.addEventListener("hashchange", () => {
  if (caller) show();
});
setInterval(tick, REFRESH_MS);
start();
