// The overview's small chart: a queue's finished jobs per bucket of the
// window, stacked (succeeded, failed, cancelled), as inline SVG.

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

/**
 * A bar chart of `buckets` ([{succeeded, failed, cancelled}], oldest
 * first), each bucket `bucketMs` long and the last ending at `until`.
 */
export function throughputChart(buckets, bucketMs, until) {
  const width = 300;
  const height = 64;
  const top = Math.max(1, ...buckets.map((b) => b.succeeded + b.failed + b.cancelled));
  const slot = width / Math.max(1, buckets.length);
  const gap = Math.min(3, slot * 0.2);
  const total = buckets.reduce((n, b) => n + b.succeeded + b.failed + b.cancelled, 0);
  const failed = buckets.reduce((n, b) => n + b.failed, 0);
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", class: "chart", role: "img",
  });
  const title = svg("title", {});
  title.textContent = `${total} jobs finished, ${failed} failed, over the last ` +
    `${Math.round((bucketMs * buckets.length) / 60000)} minutes`;
  root.append(title);
  root.append(svg("line", { x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5, class: "axis" }));
  buckets.forEach((bucket, i) => {
    let y = height;
    const end = new Date(new Date(until).getTime() - (buckets.length - 1 - i) * bucketMs);
    for (const [key, cls] of [["succeeded", "s"], ["failed", "f"], ["cancelled", "c"]]) {
      const value = bucket[key];
      if (!value) continue;
      const barHeight = Math.max(1, (value / top) * (height - 4));
      y -= barHeight;
      const rect = svg("rect", {
        x: i * slot + gap / 2, y, width: slot - gap, height: barHeight, class: cls, rx: 1.5,
      });
      const tip = svg("title", {});
      tip.textContent = `${value} ${key} by ${end.toLocaleTimeString()}`;
      rect.append(tip);
      root.append(rect);
    }
  });
  return root;
}
