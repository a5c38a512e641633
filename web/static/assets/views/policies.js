// Policies: compliance rules checked against every certificate, with their
// violations; write roles enable and disable them.
import { h, fmtTime } from '../lib/dom.js';
import { api, can } from '../lib/api.js';
import { badge, table, toast, section } from '../lib/ui.js';
import { crudView, enabledBadge, link, valueText } from '../lib/resource.js';

const types = ['AllowedIssuers', 'AllowedDomains', 'RequiredMetadata', 'AllowedEnvironments', 'RenewalLeadTime', 'CertificateLifetime'];
const severities = ['Warning', 'Error', 'Critical'];
const sevTone = { Warning: 'Expiring', Error: 'Failed', Critical: 'Failed' };

function sevBadge(s) {
  const b = badge(sevTone[s] || s);
  b.textContent = s || '—';
  b.dataset.status = s || '';
  return b;
}

function withTestid(id, wrap) {
  wrap.querySelector('table').setAttribute('data-testid', id);
  return wrap;
}

async function toggle(r, reload) {
  const body = { id: r.id, name: r.name, type: r.type, config: r.config, enabled: !r.enabled, severity: r.severity };
  try {
    await api.put(`/api/v1/policies/${encodeURIComponent(r.id)}`, body);
    toast(`Policy ${r.name} ${body.enabled ? 'enabled' : 'disabled'}.`);
    await reload();
  } catch (err) {
    toast(err.message, 'bad');
  }
}

export default crudView({
  name: 'policies',
  title: 'Policies',
  singular: 'policy',
  path: '/api/v1/policies',
  refresh: 15000,
  afterLoad: async (records, ctx) => {
    await Promise.all(records.map(async (r) => {
      r._violations = await api.get(`/api/v1/policies/${encodeURIComponent(r.id)}/violations`, { per_page: 100 }, { signal: ctx.signal });
    }));
  },
  columns: () => [
    { label: 'Name', cell: (r) => h('strong', null, r.name) },
    { label: 'Type', cell: (r) => r.type },
    { label: 'Rule', cell: (r) => h('span', { class: 'config-text' }, valueText(r.config)) },
    { label: 'Severity', cell: (r) => sevBadge(r.severity) },
    { label: 'Status', cell: (r) => enabledBadge(r.enabled) },
    { label: 'Violations', class: 'num', cell: (r) => {
      const n = r._violations ? r._violations.total : 0;
      // A button, not a #fragment link: the hash is the dashboard's route.
      return n ? h('button', { type: 'button', class: 'btn btn-small', 'data-field': 'violations', 'aria-label': `${n} violations of ${r.name}: show`, onclick: () => { const el = document.getElementById(`violations-${r.id}`); if (el) { el.scrollIntoView(); el.querySelector('h2').focus(); } } }, String(n)) : h('span', { 'data-field': 'violations' }, '0');
    } },
  ],
  extra: (r, ctx, reload) => (can('write')
    ? h('button', { type: 'button', class: 'btn btn-small', 'data-action': r.enabled ? 'disable' : 'enable', 'aria-pressed': String(r.enabled), onclick: () => toggle(r, reload) }, r.enabled ? 'Disable' : 'Enable')
    : null),
  below: (records) => records.filter((r) => r._violations && r._violations.total).map((r) => h('div', { id: `violations-${r.id}` },
    h('section', { class: 'card' }, h('h2', { tabindex: '-1' }, `Violations of ${r.name} (${r._violations.total})`),
      withTestid('policy-violations-table', table([
        { label: 'Certificate', cell: (v) => link('/certificates', v.certificate_id) },
        { label: 'Severity', cell: (v) => sevBadge(v.severity) },
        { label: 'Message', cell: (v) => v.message },
        { label: 'Since', cell: (v) => fmtTime(v.created_at) },
      ], r._violations.data, { rowAttrs: (v) => ({ 'data-id': v.id }) })),
      r._violations.total > r._violations.data.length ? h('p', { class: 'muted' }, `Showing ${r._violations.data.length} of ${r._violations.total}.`) : null))),
  fields: [
    { name: 'name', label: 'Name', required: true },
    { name: 'type', label: 'Type', type: 'select', required: true, options: types },
    { name: 'severity', label: 'Severity', type: 'select', options: severities },
    { name: 'enabled', label: 'Enabled', type: 'checkbox', default: true },
    { name: 'config', label: 'Rule (JSON)', type: 'json', hint: 'e.g. {"allowed_domains": ["example.com"]}, {"max_days": 397}, {"required_keys": ["service"]}.' },
  ],
  body: (v, rec) => ({ ...(rec ? { id: rec.id } : {}), name: v.name, type: v.type, severity: v.severity || undefined, enabled: v.enabled, config: v.config }),
  deleteMessage: (r) => `Policy ${r.name} and its violations are deleted.`,
});
