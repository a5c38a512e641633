// Shared pieces of the views: badges, tables, paging, dialogs, toasts and
// the API's errors shown where they belong.
import { h, mount } from './dom.js';
import { ApiError } from './api.js';

// tone maps a status to the colour family of its badge.
const tones = {
  Active: 'ok', Completed: 'ok', online: 'ok', Online: 'ok', sent: 'ok', Sent: 'ok', leader: 'ok', healthy: 'ok',
  Pending: 'info', Running: 'info', Issuing: 'info', AwaitingCSR: 'info', Renewing: 'info', Deploying: 'info', follower: 'info', pending: 'info',
  Expiring: 'warn', Expired: 'bad', Failed: 'bad', failed: 'bad', dead: 'bad', offline: 'bad', Offline: 'bad', unreachable: 'bad',
  Revoked: 'muted', Archived: 'muted', Cancelled: 'muted', retired: 'muted', read: 'muted',
};

// badge shows a status as a labelled, coloured chip (colour is never the only cue: the text says it).
export function badge(status) {
  const v = status === undefined || status === null || status === '' ? '—' : String(status);
  return h('span', { class: `badge badge-${tones[v] || 'neutral'}`, dataset: { status: v } }, v);
}

// table renders rows under columns: [{label, cell: row => node|string, class?, sort?}].
// opts: {caption, empty, rowAttrs: row => attrs, sort: {key, desc}, onSort(key)}.
export function table(columns, rows, opts = {}) {
  const head = h('tr', null, columns.map((c) => {
    if (!c.sort || !opts.onSort) return h('th', { scope: 'col', class: c.class }, c.label);
    const active = opts.sort && opts.sort.key === c.sort;
    const dir = active ? (opts.sort.desc ? 'descending' : 'ascending') : 'none';
    return h('th', { scope: 'col', class: c.class, 'aria-sort': dir },
      h('button', { type: 'button', class: 'sort', onclick: () => opts.onSort(c.sort) },
        c.label, active ? (opts.sort.desc ? ' ▼' : ' ▲') : ''));
  }));
  const body = rows.length
    ? rows.map((r) => tableRow(columns, r, opts))
    : [h('tr', null, h('td', { colspan: columns.length, class: 'empty' }, opts.empty || 'Nothing here.'))];
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'grid' }, opts.caption ? h('caption', null, opts.caption) : null,
      h('thead', null, head), h('tbody', null, body)));
}

// tableRow is one row of table(columns, rows, opts): a live refresh draws a
// changed record's row again with it and swaps it in place.
export function tableRow(columns, row, opts = {}) {
  return h('tr', opts.rowAttrs ? opts.rowAttrs(row) : null,
    columns.map((c) => h('td', { class: c.class, 'data-label': c.label }, c.cell(row))));
}

// pager shows "x–y of total" with previous/next; onPage(page) is called to move.
export function pager({ page, perPage, total }, onPage) {
  const pages = Math.max(1, Math.ceil(total / perPage));
  const first = total === 0 ? 0 : (page - 1) * perPage + 1;
  const last = Math.min(total, page * perPage);
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', disabled: page <= 1, onclick: () => onPage(page - 1) }, '‹ Previous'),
    h('span', { class: 'pager-info' }, `${first.toLocaleString()}–${last.toLocaleString()} of ${total.toLocaleString()}`),
    h('button', { type: 'button', disabled: page >= pages, onclick: () => onPage(page + 1) }, 'Next ›'));
}

// toast shows a short message for a few seconds; kind is ok, bad or info.
export function toast(message, kind = 'ok') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast toast-${kind}` }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'bad' ? 8000 : 4000);
}

// confirmAction asks before an action in a modal <dialog>. opts: {title,
// message, confirm (button text), danger, reasons: [{value,label}] (a
// required choice, e.g. a revocation reason), reasonLabel (the choice's
// label, "Reason" by default)}. It resolves to {reason} when confirmed and
// null when cancelled.
export function confirmAction({ title, message, confirm = 'Confirm', danger = false, reasons = null, reasonLabel = 'Reason' }) {
  return new Promise((resolve) => {
    let select = null;
    if (reasons) {
      select = h('select', { id: 'confirm-reason', name: 'reason', required: true },
        h('option', { value: '' }, 'Choose a reason…'),
        reasons.map((r) => h('option', { value: r.value }, r.label)));
    }
    const form = h('form', { method: 'dialog', class: 'dialog-body' },
      h('h2', { id: 'confirm-title' }, title),
      message ? h('p', null, message) : null,
      select ? h('p', null, h('label', { for: 'confirm-reason' }, reasonLabel), select) : null,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn', value: 'cancel', onclick: () => dlg.close('cancel') }, 'Cancel'),
        h('button', { type: 'submit', class: danger ? 'btn btn-danger' : 'btn btn-primary', value: 'ok' }, confirm)));
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': 'confirm-title' }, form);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (select && !select.value) { select.focus(); return; }
      dlg.close('ok');
    });
    dlg.addEventListener('close', () => {
      const ok = dlg.returnValue === 'ok';
      dlg.remove();
      resolve(ok ? { reason: select ? select.value : '' } : null);
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

// errorBox shows an error from the API (or any Error) as an alert.
export function errorBox(err) {
  const msg = err instanceof ApiError
    ? `${err.message}${err.requestId ? ` (request ${err.requestId})` : ''}`
    : String((err && err.message) || err);
  return h('div', { class: 'alert alert-bad', role: 'alert' }, msg);
}

// showFieldErrors puts an API 400's message next to the field it names in
// form (an input whose name is the field); an error without a field goes to
// the form's .form-error box. It answers whether it found the field.
export function showFieldErrors(form, err) {
  for (const el of form.querySelectorAll('.field-error')) el.remove();
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  const box = form.querySelector('.form-error');
  if (box) mount(box);
  if (!(err instanceof ApiError)) {
    if (box) mount(box, errorBox(err));
    return false;
  }
  const input = err.field ? form.querySelector(`[name="${CSS.escape(err.field)}"]`) : null;
  if (input) {
    const id = `err-${input.name}`;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', id);
    input.closest('.field, p, div').append(h('span', { class: 'field-error', id, role: 'alert' }, err.message));
    input.focus();
    return true;
  }
  if (box) mount(box, errorBox(err));
  return false;
}

// field is a labelled input row for forms: field('Name', h('input', {name:'name', id:'f-name'})).
export function field(label, input, hint) {
  const id = input.id || `f-${input.getAttribute('name')}`;
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', { class: 'hint' }, hint) : null);
}

// section is a titled block of a page.
export function section(title, ...children) {
  return h('section', { class: 'card' }, title ? h('h2', null, title) : null, children);
}

// pageHeader is a view's title with its actions on the right.
export function pageHeader(title, ...actions) {
  return h('div', { class: 'page-header' }, h('h1', null, title), h('div', { class: 'actions' }, actions));
}

// RFC 5280 revocation reasons, as the API names them.
export const revocationReasons = [
  { value: 'keyCompromise', label: 'Key compromise' },
  { value: 'caCompromise', label: 'CA compromise' },
  { value: 'affiliationChanged', label: 'Affiliation changed' },
  { value: 'superseded', label: 'Superseded' },
  { value: 'cessationOfOperation', label: 'Cessation of operation' },
  { value: 'certificateHold', label: 'Certificate hold' },
  { value: 'privilegeWithdrawn', label: 'Privilege withdrawn' },
  { value: 'unspecified', label: 'Unspecified' },
];
