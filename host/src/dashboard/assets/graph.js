// A job's composite parts and callbacks drawn as a graph (as Oban Web's
// workflow page does): one node per job, coloured by its status, an edge
// from each job to its parts and callbacks labelled with how they hang on
// it, each node a link to its job. Inline SVG, laid out here: the job on
// the left, each level of parts and callbacks one column to the right.

import { jobState } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 176;
const NODE_H = 46;
const COL = NODE_W + 64;
const ROW = NODE_H + 18;
const PAD = 8;

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** `text` cut to `n` characters, for a node's label. */
function cut(text, n) {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

/**
 * Places the tree: each leaf takes the next row, a job sits at the middle
 * of its children's rows. Returns the nodes flattened with x, y and the
 * edges between them.
 */
function layout(root) {
  const placed = [];
  const edges = [];
  let next = 0;
  // Returns the node's place; children first, so a parent knows their rows.
  function place(node, depth) {
    const children = (node.children || []).map((child) => place(child, depth + 1));
    const row = children.length ? (children[0].row + children[children.length - 1].row) / 2 : next++;
    const at = { node, row, x: PAD + depth * COL, y: PAD + row * ROW };
    placed.push(at);
    for (const child of children) edges.push({ from: at, to: child, label: child.node.kind });
    return at;
  }
  place(root, 0);
  return { placed, edges, rows: Math.max(1, next) };
}

/**
 * The graph of `job` and `nodes` (its parts and callbacks, each
 * `{kind, job, children}`, as the job page reads them). Every node is an
 * `<a>` to its job with `data-id` and `data-state`, so the page (and its
 * tests) can tell each job's status.
 */
export function jobGraph(job, nodes) {
  const root = { kind: "this job", job, children: nodes };
  const { placed, edges, rows } = layout(root);
  const depth = Math.max(...placed.map((p) => p.x));
  const width = depth + NODE_W + PAD * 2;
  const height = rows * ROW - (ROW - NODE_H) + PAD * 2;
  const graph = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, width, class: "graph", role: "group",
    "aria-label": `${placed.length} jobs: this job, its parts and callbacks`,
  });
  graph.style.maxWidth = "100%";
  for (const { from, to, label } of edges) {
    const x1 = from.x + NODE_W;
    const y1 = from.y + NODE_H / 2;
    const x2 = to.x;
    const y2 = to.y + NODE_H / 2;
    const mid = (x1 + x2) / 2;
    graph.append(svg("path", { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, class: "edge" }));
    graph.append(svg("text", { x: x2 - 4, y: y2 - 5, class: "edge-label", "text-anchor": "end" }, label));
  }
  for (const { node, x, y } of placed) {
    const state = jobState(node.job);
    const link = svg("a", {
      href: `#/jobs/${node.job.id}`, class: `gnode st-${state}`, "data-id": node.job.id,
      "data-state": state, "aria-label": `${node.kind}: ${node.job.function}, ${state}`,
    });
    link.append(svg("title", {}, `${node.job.id}\n${node.job.function}: ${state}`));
    link.append(svg("rect", { x, y, width: NODE_W, height: NODE_H, rx: 8 }));
    link.append(svg("circle", { cx: x + 14, cy: y + NODE_H / 2, r: 5, class: "dot" }));
    link.append(svg("text", { x: x + 26, y: y + 19, class: "fn" }, cut(node.job.function, 20)));
    link.append(svg("text", { x: x + 26, y: y + 36, class: "state" }, state));
    graph.append(link);
  }
  return graph;
}
