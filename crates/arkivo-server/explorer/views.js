// DOM building, and the views of the explorer: semantic HTML (tables with headers, definition
// lists, headings), no colour-only signals (each result says "verified" or "NOT verified" in
// words, with a symbol), nothing inline (the Content-Security-Policy forbids inline styles).

/** An element: `el('a', {href}, 'text', child…)`. Text is always set as text, never as HTML. */
export function el(tag, attrs = {}, ...kids) {
  const svg = ['svg', 'polyline', 'line', 'text', 'title', 'circle'].includes(tag);
  const e = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, v);
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}

/** Replaces the main region's content and moves focus there (screen readers announce it). */
export function show(title, ...content) {
  const main = document.getElementById('main');
  main.replaceChildren(el('h1', {}, title), ...content.flat().filter(Boolean));
  document.title = `${title} · Arkivo explorer`;
}

export const searchLink = (q, label = q) => el('a', { href: `/?q=${encodeURIComponent(q)}` }, label);
export const entryLink = (uuid, label) => el('a', { href: `/ui/entry/${uuid}` }, label);
export const time = (secs) => el('time', { datetime: new Date(secs * 1000).toISOString() }, new Date(secs * 1000).toISOString().replace('.000Z', 'Z'));
export const code = (s) => el('code', {}, s);

/** A definition list from [term, description] pairs (null descriptions left out). */
export function dl(pairs) {
  return el('dl', {}, pairs.filter(([, d]) => d !== null && d !== undefined).flatMap(([t, d]) => [el('dt', {}, t), el('dd', {}, d)]));
}

export function message(kind, text) {
  return el('p', { class: `message ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** The verification result: a heading that says it in words, then each step. */
export function verification(result) {
  const ok = result.verified;
  return el('section', { id: 'verification', class: ok ? 'verified' : 'failed', 'aria-labelledby': 'verification-h', 'data-verified': String(ok) },
    el('h2', { id: 'verification-h' }, ok ? '✔ Verified in your browser' : '✘ NOT verified'),
    el('ol', { class: 'steps' }, result.steps.map((s) => el('li', { 'data-ok': String(s.ok) },
      el('strong', {}, `${s.ok ? '✔ passed' : '✘ FAILED'}: ${s.name}`), ' — ', el('span', { class: 'detail' }, s.detail)))));
}

/** A results table: one row per entry. */
export function resultsTable(rows) {
  return el('table', { class: 'results' },
    el('thead', {}, el('tr', {}, ['Index', 'Kind', 'Integrated', 'Identity', 'Digest'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.map((r) => el('tr', {},
      el('td', {}, entryLink(r.uuid, String(r.logIndex))),
      el('td', {}, r.kind),
      el('td', {}, time(r.integratedTime)),
      el('td', { class: 'wrap' }, r.identity),
      el('td', { class: 'wrap' }, r.digest ? code(r.digest) : '')))));
}

/** Page links: previous and next, and where we are. */
export function pager(q, page, pages) {
  const link = (p, label, rel) => el('a', { href: `/?q=${encodeURIComponent(q)}&page=${p}`, rel }, label);
  return el('nav', { class: 'pager', 'aria-label': 'Result pages' },
    page > 1 ? link(page - 1, '← Previous', 'prev') : null,
    el('span', {}, ` Page ${page} of ${pages} `),
    page < pages ? link(page + 1, 'Next →', 'next') : null);
}

/** A line chart of the tree size over time (`time` in ms), as SVG (attributes only: no inline
 * style). */
export function sizeChart(samples) {
  const w = 600, h = 160, pad = 30;
  const [t0, t1] = [samples[0].time, samples[samples.length - 1].time];
  const maxSize = Math.max(...samples.map((s) => s.size), 1);
  const x = (t) => pad + (t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * (w - 2 * pad));
  const when = (t) => new Date(t).toISOString().slice(0, 19).replace('T', ' ');
  const y = (s) => h - pad - (s / maxSize) * (h - 2 * pad);
  const points = samples.map((s) => `${x(s.time).toFixed(1)},${y(s.size).toFixed(1)}`).join(' ');
  return el('figure', {},
    el('svg', { viewBox: `0 0 ${w} ${h}`, role: 'img', 'aria-labelledby': 'chart-title', class: 'chart' },
      el('title', { id: 'chart-title' }, `Tree size from ${samples[0].size} to ${samples[samples.length - 1].size}`),
      el('line', { x1: pad, y1: h - pad, x2: w - pad, y2: h - pad, class: 'axis' }),
      el('line', { x1: pad, y1: pad, x2: pad, y2: h - pad, class: 'axis' }),
      el('text', { x: 2, y: pad, class: 'label' }, String(maxSize)),
      el('text', { x: 2, y: h - pad, class: 'label' }, '0'),
      el('text', { x: pad, y: h - 8, class: 'label' }, when(t0)),
      el('text', { x: w - pad, y: h - 8, class: 'label', 'text-anchor': 'end' }, when(t1)),
      el('polyline', { points, class: 'line' }),
      samples.map((s) => el('circle', { cx: x(s.time).toFixed(1), cy: y(s.size).toFixed(1), r: 3, class: 'point' }))),
    el('figcaption', {}, `Tree size at the ${samples.length} checkpoints this browser has fetched`));
}
