// The audit trail (auditors and up): filters by actor, action, resource and
// time range, newest first, and the chain's verification at the top.
import { h, mount, fmtTime } from '../lib/dom.js';
import { api, can } from '../lib/api.js';
import { table, pager, errorBox, pageHeader } from '../lib/ui.js';
import { filterBar, queryValues, slot, detailsText, link } from '../lib/resource.js';

const PER_PAGE = 50;
const filterNames = ['actor', 'action', 'resource_type', 'resource_id', 'from', 'to'];

// rfc3339 turns a datetime-local value (the browser's zone) into RFC 3339.
export function rfc3339(local) {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

// toLocalInput turns an RFC 3339 time into a datetime-local value.
export function toLocalInput(v) {
  if (!v) return '';
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return v;
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

const resourcePages = { certificate: '/certificates', job: '/jobs', agent: '/agents' };

// fetchNewestFirst reads page `page` of the events, newest first, from the
// API's oldest-first pages: the slice [total-page*n, total-(page-1)*n).
async function fetchNewestFirst(params, page, signal) {
  const head = await api.get('/api/v1/audit', { ...params, page: 1, per_page: 1 }, { signal });
  const total = head.total || 0;
  const end = total - (page - 1) * PER_PAGE;
  const start = Math.max(0, end - PER_PAGE);
  if (end <= 0) return { total, rows: [] };
  const first = Math.floor(start / PER_PAGE) + 1;
  const last = Math.floor((end - 1) / PER_PAGE) + 1;
  const rows = [];
  for (let p = first; p <= last; p++) {
    const res = await api.get('/api/v1/audit', { ...params, page: p, per_page: PER_PAGE }, { signal });
    rows.push(...res.data);
  }
  const offset = (first - 1) * PER_PAGE;
  return { total, rows: rows.slice(start - offset, end - offset).reverse() };
}

export function auditTable(rows, opts = {}) {
  const t = table([
    { label: 'Time', cell: (e) => h('time', { datetime: e.timestamp }, fmtTime(e.timestamp)) },
    { label: 'Seq', class: 'num', cell: (e) => String(e.seq) },
    { label: 'Actor', cell: (e) => h('span', null, e.actor, h('span', { class: 'muted' }, ` (${e.actor_type}${e.actor_role ? `, ${e.actor_role}` : ''}${e.via ? `, via ${e.via}` : ''})`)) },
    { label: 'Action', cell: (e) => h('code', { class: 'id' }, e.action) },
    { label: 'Resource', cell: (e) => h('span', null, `${e.resource_type} `, resourcePages[e.resource_type] && can('read') ? link(resourcePages[e.resource_type], e.resource_id) : h('code', null, e.resource_id)) },
    { label: 'Details', cell: (e) => h('span', { class: 'details-text' }, detailsText(e.details)) },
  ], rows, { empty: opts.empty || 'No audit events match.', caption: opts.caption, rowAttrs: (e) => ({ 'data-id': e.id }) });
  t.querySelector('table').setAttribute('data-testid', opts.testid || 'audit-table');
  return t;
}

function verification(v) {
  if (v.valid) {
    return h('div', { class: 'alert alert-ok', role: 'status', 'data-chain': 'valid' },
      h('strong', null, 'Audit chain verified. '),
      `${v.events.toLocaleString()} events link up${v.keyed ? ' under the cluster\'s audit key (HMAC-SHA256)' : ' (plain SHA-256, this node holds no audit key)'}`,
      v.unkeyed_events ? `, ${v.unkeyed_events} of them unkeyed from before the key` : '',
      '. Head ', h('code', null, (v.head || '').slice(0, 16) || '—'), '.');
  }
  const b = v.first_break || {};
  return h('div', { class: 'alert alert-bad', role: 'alert', 'data-chain': 'broken' },
    h('strong', null, 'Audit chain broken. '),
    `The first broken link is event ${b.seq !== undefined ? `#${b.seq}` : ''}${b.id ? ` (${b.id})` : ''}: ${b.reason || 'no reason given'}. `,
    `${(v.events || 0).toLocaleString()} events before it verified.`);
}

export default {
  title: 'Audit trail',
  async render(main, ctx) {
    const values = queryValues(ctx.query, filterNames);
    let page = Math.max(1, Number(ctx.query.get('page')) || 1);
    const verify = slot(h('p', { class: 'loading' }, 'Checking the chain…'));
    const list = slot(h('p', { class: 'loading' }, 'Loading…'));

    const apiParams = () => ({
      actor: values.actor, action: values.action, resource_type: values.resource_type, resource_id: values.resource_id,
      from: rfc3339(values.from), to: rfc3339(values.to),
    });
    const load = async () => {
      try {
        const { total, rows } = await fetchNewestFirst(apiParams(), page, ctx.signal);
        list.set(h('div', null,
          auditTable(rows, { caption: `${total.toLocaleString()} event${total === 1 ? '' : 's'}, newest first` }),
          pager({ page, perPage: PER_PAGE, total }, (p) => { page = p; ctx.replaceQuery({ ...values, page }); load(); })));
      } catch (err) {
        if (!ctx.signal.aborted) list.set(errorBox(err));
      }
    };
    const loadVerify = async () => {
      try {
        verify.set(verification(await api.get('/api/v1/audit/verify', null, { signal: ctx.signal })));
      } catch (err) {
        if (!ctx.signal.aborted) verify.set(errorBox(err));
      }
    };
    const filters = filterBar([
      { name: 'actor', label: 'Actor', placeholder: 'name or key' },
      { name: 'action', label: 'Action', placeholder: 'e.g. certificate_revoked' },
      { name: 'resource_type', label: 'Resource type', options: ['certificate', 'job', 'agent', 'issuer', 'target', 'team', 'owner', 'policy_rule', 'renewal_policy', 'notification', 'api_key', 'join_token', 'cluster', 'cluster_member'] },
      { name: 'resource_id', label: 'Resource id' },
      { name: 'from', label: 'From', type: 'datetime-local' },
      { name: 'to', label: 'To', type: 'datetime-local' },
    ], values, (v) => {
      Object.assign(values, v);
      page = 1;
      ctx.replaceQuery(values);
      load();
    });
    for (const n of ['from', 'to']) filters.elements.namedItem(n).value = values[n] || '';
    mount(main, h('div', { 'data-view': 'audit' }, pageHeader('Audit trail'), verify.node, filters, list.node));
    await Promise.all([loadVerify(), load()]);
    ctx.every(15000, async () => { if (page === 1) await load(); });
    ctx.every(60000, loadVerify);
  },
};

