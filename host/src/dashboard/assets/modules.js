// Modules: the uploaded components (name, digest, size, exports, upload
// time, the jobs that use them) and an upload by drag and drop or file
// picker (`POST /v1/modules?name=`).

import { api, isAdmin, may, query } from "./api.js";
import { bytes, fill, h, jobFunctions, patch, toast, when } from "./ui.js";

function moduleRow(module) {
  const reference = module.name || module.digest;
  return h("tr", { "data-module": reference },
    h("td", {}, module.name ? h("b", {}, module.name) : h("span", { class: "muted" }, "unnamed")),
    h("td", { class: "mono hide-narrow", title: module.digest }, `${module.digest.slice(0, 16)}…`),
    h("td", { class: "num" }, bytes(module.size)),
    h("td", { class: "mono" }, jobFunctions(module).join(", ")),
    h("td", { class: "hide-narrow" }, when(module.created_at)),
    h("td", {}, isAdmin()
      ? h("a", { href: `#/jobs${query({ module: reference })}` }, "jobs")
      : null));
}

/** The modules section. */
export async function modules(container) {
  const rows = h("tbody", { id: "module-rows" });
  const nameInput = h("input", { id: "module-name", placeholder: "e.g. resize", autocomplete: "off" });
  const fileInput = h("input", { id: "module-file", type: "file", accept: ".wasm,application/wasm" });
  const status = h("p", { class: "field-error", role: "alert" });
  const drop = h("div", { class: "drop", id: "drop", tabindex: 0, role: "button",
    "aria-label": "Drop a component here, or press Enter to choose a file" },
  h("p", {}, h("b", {}, "Drop a .wasm component here"), " or ",
    h("label", { for: "module-file", class: "pick" }, "choose a file")),
  fileInput);

  async function upload(file) {
    if (!file) return;
    fill(status);
    const name = nameInput.value.trim() || file.name.replace(/\.wasm$/, "");
    try {
      const module = await api("POST", `/modules${query({ name })}`, file);
      toast(`Uploaded ${module.name || module.digest.slice(0, 12)} (${jobFunctions(module).length} functions)`);
      nameInput.value = "";
      fileInput.value = "";
      await refresh();
    } catch (e) {
      fill(status, e.message);
      toast(e.message, "error");
    }
  }
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    upload(e.dataTransfer.files[0]);
  });
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); fileInput.click(); }
  });
  fileInput.addEventListener("change", () => upload(fileInput.files[0]));

  fill(container,
    h("h1", {}, "Modules"),
    may("upload") && h("section", { class: "panel stack", "aria-label": "Upload a module" },
      h("h3", {}, "Upload a component"),
      h("label", { for: "module-name" }, "Name (default: the file's)", nameInput),
      drop, status),
    h("h2", {}, "Uploaded"),
    h("div", { class: "panel table-wrap" }, h("table", { "aria-label": "Modules" },
      h("thead", {}, h("tr", {},
        h("th", {}, "Name"), h("th", { class: "hide-narrow" }, "Digest"), h("th", { class: "num" }, "Size"),
        h("th", {}, "Job functions"), h("th", { class: "hide-narrow" }, "Uploaded"), h("th", {}, ""))),
      rows)));

  async function refresh() {
    const { modules: list } = await api("GET", "/modules");
    patch(rows, list.map((m) => ({ key: m.digest, data: m, render: moduleRow })));
    if (!list.length) fill(rows, h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No module yet.")));
  }
  await refresh();
  return { refresh };
}
