// Pieces shared by the fleet, jobs, audit and configuration views: fetching
// whole lists, filter bars kept in the URL, facts lists, live parts that keep
// the user's focus, and a list-with-form view for plain records (teams,
// owners, issuers, targets, policies, renewal policies).
import { h, mount, fmtTime } from './dom.js';
import { api, can, ApiError } from './api.js';
import { badge, table, toast, confirmAction, errorBox, showFieldErrors, field, section, pageHeader } from './ui.js';

// loadAll reads every page of a list (per_page 500, at most `max` records).
export async function loadAll(path, params, opts = {}, max = 5000) {
  const out = [];
  for (let page = 1; out.length < max; page++) {
    const res = await api.get(path, { ...params, page, per_page: 500 }, opts);
    const data = (res && res.data) || [];
    out.push(...data);
    if (data.length < 500 || out.length >= (res.total || 0)) break;
  }
  return out;
}

// tryGet answers the route's body, or null when the route is missing (404
// naming no route, e.g. a server without the dashboard's stats routes).
export async function tryGet(path, params, opts) {
  try {
    return await api.get(path, params, opts);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 405)) return null;
    throw err;
  }
}

// missingRoute tells whether err is a 404 for a route this server lacks.
export function missingRoute(err) {
  return err instanceof ApiError && err.status === 404 && /no route/i.test(err.message);
}

// link is a link to a record's page, or its id as text when there is none.
export function link(path, id, label) {
  if (!id) return '—';
  return h('a', { href: `#${path}/${encodeURIComponent(id)}` }, label || id);
}

// dash shows a value, or "—" for none.
export function dash(v) {
  return v === null || v === undefined || v === '' ? '—' : v;
}

// facts is a <dl> of [label, value] pairs; empty values show "—".
export function facts(pairs, attrs) {
  return h('dl', { class: 'facts', ...attrs }, pairs.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, dash(v))]));
}

// humanKey turns "validate_command" into "Validate command".
export function humanKey(k) {
  const s = String(k).replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// valueText shows a JSON value as plain text: lists joined, objects as k: v.
export function valueText(v) {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.length ? v.map(valueText).join(', ') : '—';
  if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}: ${valueText(x)}`).join('; ');
  return String(v);
}

// objectFacts shows a JSON object's fields as facts (nested objects nest).
export function objectFacts(obj, attrs) {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return h('p', attrs, valueText(obj));
  const entries = Object.entries(obj);
  if (!entries.length) return h('p', { class: 'muted', ...attrs }, 'Nothing recorded.');
  return h('dl', { class: 'facts', ...attrs }, entries.map(([k, v]) => [
    h('dt', null, humanKey(k)),
    h('dd', null, v && typeof v === 'object' && !Array.isArray(v) ? objectFacts(v) : valueText(v)),
  ]));
}

// detailsText is an audit event's details as one line of text.
export function detailsText(details) {
  if (details === null || details === undefined) return '';
  if (typeof details !== 'object') return String(details);
  return Object.entries(details).map(([k, v]) => `${k}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : v}`).join(' · ');
}

// swap replaces old with next in the page, keeping the focus on the control
// of the same data-action and data-id when it was inside (live refresh).
export function swap(old, next) {
  if (!old || !old.isConnected) return next;
  const a = document.activeElement;
  let key = null;
  if (a && old.contains(a)) {
    const row = a.closest('[data-id]');
    key = { action: a.getAttribute('data-action'), id: row && row.getAttribute('data-id'), name: a.getAttribute('name') };
  }
  old.replaceWith(next);
  if (key) {
    let sel = key.action ? `[data-action="${CSS.escape(key.action)}"]` : key.name ? `[name="${CSS.escape(key.name)}"]` : null;
    if (sel && key.id) sel = `[data-id="${CSS.escape(key.id)}"] ${sel}`;
    const el = sel && next.querySelector(sel);
    if (el) el.focus({ preventScroll: true });
  }
  return next;
}

// slot is a live part of a page: slot.set(node) swaps its content in place.
export function slot(initial) {
  let node = initial || h('div');
  return {
    get node() { return node; },
    set(next) { node = swap(node, next); return node; },
  };
}

// filterBar draws a filter form kept in the URL: defs are
// [{name, label, options?: [values] | [{value,label}], type?, placeholder?}].
// onApply(values) is called on submit and on a select's change.
export function filterBar(defs, values, onApply) {
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filters' });
  const collect = () => {
    const out = {};
    for (const d of defs) {
      const el = form.elements.namedItem(d.name);
      out[d.name] = el ? el.value.trim() : '';
    }
    return out;
  };
  for (const d of defs) {
    let input;
    if (d.options) {
      input = h('select', { name: d.name, id: `flt-${d.name}` },
        h('option', { value: '' }, d.any || 'Any'),
        d.options.map((o) => (typeof o === 'object'
          ? h('option', { value: o.value }, o.label)
          : h('option', { value: o }, o))));
      input.value = values[d.name] || '';
      input.addEventListener('change', () => onApply(collect()));
    } else {
      input = h('input', { name: d.name, id: `flt-${d.name}`, type: d.type || 'search', placeholder: d.placeholder || '', value: values[d.name] || '', size: d.size || 16 });
    }
    form.append(field(d.label, input));
  }
  form.append(h('div', { class: 'field' }, h('span', { class: 'label-spacer', 'aria-hidden': 'true' }, ' '),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'btn btn-primary', 'data-action': 'filter' }, 'Apply'),
      h('button', { type: 'button', class: 'btn', 'data-action': 'clear-filters', onclick: () => { for (const d of defs) form.elements.namedItem(d.name).value = ''; onApply(collect()); } }, 'Clear'))));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); onApply(collect()); });
  return form;
}

// queryValues reads names from ctx.query into an object.
export function queryValues(query, names) {
  const out = {};
  for (const n of names) out[n] = query.get(n) || '';
  return out;
}

// countsList shows {key: count} as a compact list of labelled counts.
export function countsList(counts, attrs = {}) {
  const merged = {};
  for (const [k, v] of Object.entries(counts || {})) merged[k || 'unknown'] = (merged[k || 'unknown'] || 0) + v;
  const entries = Object.entries(merged).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return h('p', { class: 'muted' }, 'None.');
  return h('ul', { class: 'counts', ...attrs }, entries.map(([k, v]) => h('li', { 'data-key': k }, badge(k), ' ', h('span', { class: 'count' }, String(v)))));
}

// parseJSONField reads a textarea of JSON; a syntax error is an ApiError-like
// error naming the field so showFieldErrors puts it next to the input.
export function parseJSONField(form, name, fallback) {
  const el = form.elements.namedItem(name);
  const text = el ? el.value.trim() : '';
  if (!text) return fallback;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, { message: `${name} is not valid JSON: ${e.message}`, field: name });
  }
}

// crudView builds the view of a plain record kind: a list with, for write
// roles, a create/edit form and delete. cfg:
//   name (data-view and test ids), title, path (/api/v1/...), singular,
//   columns: table columns (an actions column is added),
//   fields: [{name, label, type: text|textarea|json|number|checkbox|select|list, options?, required?, hint?, get?(rec)}],
//   body(values, existing): the request body from the form's values,
//   extra(rec, ctx, reload): more buttons of a row, filters?, before?(ctx): nodes above the list,
//   deleteLabel ('Delete'), deleteMessage(rec).
export function crudView(cfg) {
  return {
    title: cfg.title,
    async render(main, ctx) {
      const write = can('write');
      const formSlot = slot(h('div'));
      const listSlot = slot(h('p', { class: 'loading' }, 'Loading…'));
      const extraTop = cfg.before ? await cfg.before(ctx) : null;
      let records = [];
      let lookups = {};

      const reload = async () => {
        [records, lookups] = await Promise.all([
          loadAll(cfg.path, cfg.listParams ? cfg.listParams(ctx) : {}, { signal: ctx.signal }),
          cfg.lookups ? cfg.lookups(ctx) : {},
        ]);
        if (cfg.afterLoad) await cfg.afterLoad(records, ctx);
        drawList();
      };

      const drawList = () => {
        const cols = cfg.columns(lookups).slice();
        const rowActions = (r) => {
          const btns = [];
          if (cfg.extra) btns.push(...[].concat(cfg.extra(r, ctx, reload, lookups) || []));
          if (write) {
            btns.push(h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'edit', onclick: () => openForm(r) }, 'Edit'));
            btns.push(h('button', { type: 'button', class: 'btn btn-small btn-danger', 'data-action': 'delete', onclick: () => remove(r) }, cfg.deleteLabel || 'Delete'));
          }
          return btns.length ? h('div', { class: 'actions' }, btns) : '—';
        };
        if (write || cfg.extra) cols.push({ label: 'Actions', cell: rowActions });
        listSlot.set(h('div', null,
          table(cols, records, {
            caption: `${records.length} ${records.length === 1 ? cfg.singular : cfg.title.toLowerCase()}`,
            empty: `No ${cfg.title.toLowerCase()} yet.`,
            rowAttrs: (r) => ({ 'data-id': r.id }),
          }),
          cfg.below ? cfg.below(records, ctx, lookups) : null));
        listSlot.node.querySelector('table').setAttribute('data-testid', `${cfg.name}-table`);
      };

      const remove = async (r) => {
        const ok = await confirmAction({
          title: `${cfg.deleteLabel || 'Delete'} ${cfg.singular} ${r.name || r.id}?`,
          message: cfg.deleteMessage ? cfg.deleteMessage(r) : 'This cannot be undone.',
          confirm: cfg.deleteLabel || 'Delete', danger: true,
        });
        if (!ok) return;
        try {
          await api.del(`${cfg.path}/${encodeURIComponent(r.id)}`);
          toast(`${humanKey(cfg.singular)} ${r.name || r.id} deleted.`);
          await reload();
        } catch (err) {
          toast(err.message, 'bad');
        }
      };

      const openForm = (rec) => {
        const editing = Boolean(rec);
        const form = h('form', { class: 'record-form', novalidate: true, 'data-testid': `${cfg.name}-form` });
        for (const f of cfg.fields) {
          if (f.createOnly && editing) continue;
          form.append(formField(f, rec, lookups));
        }
        form.append(h('div', { class: 'form-error', 'aria-live': 'assertive' }),
          h('div', { class: 'actions' },
            h('button', { type: 'submit', class: 'btn btn-primary', 'data-action': 'save' }, editing ? 'Save' : `Create ${cfg.singular}`),
            h('button', { type: 'button', class: 'btn', 'data-action': 'cancel-form', onclick: () => formSlot.set(h('div')) }, 'Cancel')));
        form.addEventListener('submit', async (ev) => {
          ev.preventDefault();
          const btn = form.querySelector('[data-action="save"]');
          btn.disabled = true;
          try {
            const values = formValues(form, cfg.fields);
            const body = cfg.body(values, rec, form);
            const saved = editing
              ? await api.put(`${cfg.path}/${encodeURIComponent(rec.id)}`, body)
              : await api.post(cfg.path, body);
            formSlot.set(h('div'));
            let msg = `${humanKey(cfg.singular)} ${(saved && saved.name) || ''} ${editing ? 'saved' : 'created'}.`;
            if (saved && saved.secrets_cleared && saved.secrets_cleared.length) msg += ` Secrets cleared: ${saved.secrets_cleared.join(', ')}; give them again.`;
            toast(msg, saved && saved.secrets_cleared && saved.secrets_cleared.length ? 'info' : 'ok');
            await reload();
          } catch (err) {
            if (err instanceof ApiError && err.status === 401) return;
            // "notify[0].channel" or "config.port" lands on the notify or config input.
            if (err instanceof ApiError && err.field && !form.elements.namedItem(err.field)) {
              const base = err.field.split(/[.[]/)[0];
              if (form.elements.namedItem(base)) err.field = base;
            }
            showFieldErrors(form, err);
          } finally {
            btn.disabled = false;
          }
        });
        formSlot.set(section(editing ? `Edit ${cfg.singular} ${rec.name || rec.id}` : `New ${cfg.singular}`, form));
        const first = form.querySelector('input, select, textarea');
        if (first) first.focus();
        formSlot.node.scrollIntoView({ block: 'nearest' });
      };

      mount(main, h('div', { 'data-view': cfg.name },
        pageHeader(cfg.title, write && cfg.body
          ? h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'create', onclick: () => openForm(null) }, `New ${cfg.singular}`)
          : null),
        cfg.intro ? h('p', { class: 'intro' }, cfg.intro) : null,
        extraTop,
        formSlot.node,
        listSlot.node));
      await reload();
      if (cfg.refresh) ctx.every(cfg.refresh, reload);
    },
  };
}

function formField(f, rec, lookups) {
  const v = rec ? (f.get ? f.get(rec) : rec[f.name]) : f.default;
  const id = `rf-${f.name}`;
  let input;
  switch (f.type) {
    case 'checkbox':
      input = h('input', { type: 'checkbox', name: f.name, id });
      input.checked = rec ? Boolean(v) : f.default !== undefined ? Boolean(f.default) : true;
      return h('div', { class: 'field field-check' }, h('label', { for: id }, input, ' ', f.label), f.hint ? h('small', { class: 'hint' }, f.hint) : null);
    case 'select': {
      const opts = typeof f.options === 'function' ? f.options(lookups) : f.options;
      input = h('select', { name: f.name, id, required: f.required },
        f.required ? h('option', { value: '' }, 'Choose…') : h('option', { value: '' }, '(none)'),
        opts.map((o) => (typeof o === 'object' ? h('option', { value: o.value }, o.label) : h('option', { value: o }, o))));
      input.value = v === undefined || v === null ? '' : String(v);
      break;
    }
    case 'json':
      input = h('textarea', { name: f.name, id, rows: 6, spellcheck: 'false', class: 'mono' });
      input.value = v === undefined ? (f.empty || '{}') : JSON.stringify(v, null, 2);
      break;
    case 'textarea':
      input = h('textarea', { name: f.name, id, rows: 3 });
      input.value = v || '';
      break;
    case 'list':
      input = h('input', { name: f.name, id, type: 'text', placeholder: f.placeholder || '' });
      input.value = Array.isArray(v) ? v.join(', ') : (v || '');
      break;
    case 'number':
      input = h('input', { name: f.name, id, type: 'number', inputmode: 'numeric', min: f.min, step: 1 });
      input.value = v === undefined || v === null ? '' : String(v);
      break;
    default:
      input = h('input', { name: f.name, id, type: f.type || 'text', required: f.required, autocomplete: 'off' });
      input.value = v || '';
  }
  return field(f.label + (f.required ? ' (required)' : ''), input, f.hint);
}

// formValues reads the fields' values: checkboxes as booleans, numbers as
// numbers (null when empty), lists as arrays, json left as text (the body
// parses it with parseJSONField so its error names the field).
function formValues(form, fields) {
  const out = {};
  for (const f of fields) {
    const el = form.elements.namedItem(f.name);
    if (!el) continue;
    // A required field left empty is said at once, without a request.
    if (f.required && f.type !== 'checkbox' && !el.value.trim()) {
      throw new ApiError(400, { field: f.name, message: `${f.label} is required.` });
    }
    if (f.type === 'checkbox') out[f.name] = el.checked;
    else if (f.type === 'number') out[f.name] = el.value.trim() === '' ? null : Number(el.value);
    else if (f.type === 'list') out[f.name] = el.value.split(',').map((x) => x.trim()).filter(Boolean);
    else if (f.type === 'json') out[f.name] = parseJSONField(form, f.name, f.emptyValue !== undefined ? f.emptyValue : {});
    else out[f.name] = el.value.trim();
  }
  return out;
}

// enabledBadge shows a boolean as Enabled/Disabled text.
export function enabledBadge(on) {
  return h('span', { class: `badge badge-${on ? 'ok' : 'muted'}` }, on ? 'Enabled' : 'Disabled');
}

// timeCell shows a time with the exact value as its title.
export function timeCell(v) {
  return v ? h('time', { datetime: v, title: fmtTime(v) }, fmtTime(v)) : '—';
}

// routeMissing is a note for a part whose server route is not there yet.
export function routeMissing(what) {
  return h('div', { class: 'alert alert-info', role: 'note' }, `${what} needs a newer certctl server (the route is missing here).`);
}

export { errorBox };

// toneBadge is a badge of a chosen tone (ok, info, warn, bad, muted) for
// states the shared badge() does not know.
export function toneBadge(text, tone) {
  return h('span', { class: `badge badge-${tone || 'neutral'}`, dataset: { status: text } }, text);
}

// stateBadge is badge() with the states of these views given their tones.
const extraTones = { Degraded: 'warn', unhealthy: 'bad', stalled: 'warn', candidate: 'warn', shutdown: 'bad', Retired: 'muted', AwaitingCSR: 'info', voter: 'info' };
export function stateBadge(v) {
  return extraTones[v] ? toneBadge(v, extraTones[v]) : badge(v);
}

const shortFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit' });

// shortTime is a time in a table cell: month, day, hours and minutes (the
// year when it is not this one), with the exact time as the title.
export function shortTime(v) {
  if (!v) return '—';
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  const text = d.getFullYear() === new Date().getFullYear() ? shortFmt.format(d) : fmtTime(v);
  return h('time', { datetime: d.toISOString(), title: fmtTime(v) }, text);
}
