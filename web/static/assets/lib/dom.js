// DOM helpers. Every piece of text from the API goes through h() or text(),
// which only ever set textContent and attributes: the page's Content-Security-
// Policy forbids HTML sinks (innerHTML and the like) altogether.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h builds an element: h('a', {href: '#/x', class: 'btn', onclick: fn}, 'text', child).
// Attributes whose value is null, undefined or false are left out; true sets
// the attribute empty. on* keys take functions. Children may be strings,
// numbers, nodes, arrays of them, or null (skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

// s builds an SVG element, as h does.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'value' && 'value' in el) {
      el.value = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// clear removes every child of el and returns it.
export function clear(el) {
  el.replaceChildren();
  return el;
}

// mount replaces el's children with the given ones.
export function mount(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

const dateFmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: '2-digit' });
const timeFmt = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
});

// fmtDate shows a date (no time); empty for none.
export function fmtDate(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : dateFmt.format(d);
}

// fmtTime shows a date and time; empty for none.
export function fmtTime(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : timeFmt.format(d);
}

// daysLeft is the whole days from now until v (negative once past); null for none.
export function daysLeft(v, now = Date.now()) {
  if (!v) return null;
  return Math.floor((new Date(v).getTime() - now) / 86400000);
}

// ago says how long ago v was, e.g. "3 min ago".
export function ago(v, now = Date.now()) {
  if (!v) return 'never';
  const sec = Math.round((now - new Date(v).getTime()) / 1000);
  if (sec < 0) return 'just now';
  if (sec < 60) return `${sec} s ago`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ago`;
  if (sec < 86400) return `${Math.floor(sec / 3600)} h ago`;
  return `${Math.floor(sec / 86400)} d ago`;
}

// fmtBytes shows a size in bytes in a readable unit.
export function fmtBytes(n) {
  if (n === null || n === undefined) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

// fmtNumber groups digits.
export function fmtNumber(n) {
  return n === null || n === undefined ? '' : Number(n).toLocaleString();
}

// href builds a hash link: href('/certificates', {status: 'Expired'}).
export function href(path, queryObj) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(queryObj || {})) if (v !== '' && v !== null && v !== undefined) q.set(k, v);
  const str = q.toString();
  return `#${path}${str ? `?${str}` : ''}`;
}
