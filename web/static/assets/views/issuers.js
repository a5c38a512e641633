// Issuers: the configured certificate authorities. For the built-in Local CA
// (type GenericCA) the CA certificate's expiry and the CRL's next update come
// from GET /api/v1/issuers/{id}/ca, which also says when the CA has not been
// made yet (rather than the 404 of the /.well-known/pki files).
import { h, fmtDate, fmtTime, daysLeft } from '../lib/dom.js';
import { api, can } from '../lib/api.js';
import { toast } from '../lib/ui.js';
import { crudView, enabledBadge, valueText } from '../lib/resource.js';

const types = ['GenericCA', 'ACME', 'VaultPKI', 'StepCA'];

// pki reads what the node knows of an issuer's own CA: {ca, crl, error}.
async function pki(id, signal) {
  const out = { ca: null, crl: null, made: false, error: '' };
  try {
    const r = await api.get(`/api/v1/issuers/${encodeURIComponent(id)}/ca`, null, { signal });
    const date = (v) => (v ? new Date(v) : null);
    out.made = Boolean(r.has_material);
    if (r.ca_not_after) out.ca = { issuing: date(r.ca_not_after), root: date(r.root_not_after) };
    if (r.crl_this_update) out.crl = { thisUpdate: date(r.crl_this_update), nextUpdate: date(r.crl_next_update), revoked: r.revoked_count };
  } catch (err) {
    if (signal.aborted) throw err;
    out.error = err.message;
  }
  return out;
}

function dateLeft(d) {
  if (!d) return '—';
  const left = daysLeft(d);
  const cls = left < 0 ? 'bad' : left <= 30 ? 'warn' : 'ok';
  return h('span', null, h('time', { datetime: d.toISOString(), title: fmtTime(d) }, fmtDate(d)), ' ',
    h('span', { class: `badge badge-${cls}` }, left < 0 ? `expired ${-left} d ago` : `${left} d left`));
}

function caCell(r) {
  if (r.type !== 'GenericCA') return '—';
  const p = r._pki;
  if (!p) return '…';
  if (p.error) return h('span', { class: 'muted', title: p.error }, 'not readable');
  if (!p.ca) return p.made ? 'no chain published' : 'not created yet';
  const { issuing, root } = p.ca;
  return h('div', { 'data-field': 'ca-expiry' }, dateLeft(issuing),
    root && root.getTime() !== issuing.getTime() ? h('div', { class: 'muted small' }, 'root: ', dateLeft(root)) : null);
}

function crlCell(r) {
  if (r.type !== 'GenericCA') return '—';
  const p = r._pki;
  if (!p) return '…';
  if (!p.crl) return p.made ? 'none published' : '—';
  const next = p.crl.nextUpdate;
  const overdue = next && next.getTime() < Date.now();
  return h('div', { 'data-field': 'crl-next-update' },
    next ? h('time', { datetime: next.toISOString(), title: `this update ${fmtTime(p.crl.thisUpdate)}` }, fmtTime(next)) : 'no next update',
    overdue ? [' ', h('span', { class: 'badge badge-bad' }, 'overdue')] : null,
    typeof p.crl.revoked === 'number' ? h('div', { class: 'muted small' }, `${p.crl.revoked} revoked`) : null);
}

export default crudView({
  name: 'issuers',
  title: 'Issuers',
  singular: 'issuer',
  path: '/api/v1/issuers',
  intro: 'Secrets in a configuration are shown as ******** and kept when saved unchanged.',
  afterLoad: async (records, ctx) => {
    await Promise.all(records.filter((r) => r.type === 'GenericCA').map(async (r) => { r._pki = await pki(r.id, ctx.signal); }));
  },
  columns: () => [
    { label: 'Name', cell: (r) => h('strong', null, r.name) },
    { label: 'ID', cell: (r) => h('code', { class: 'id' }, r.id) },
    { label: 'Type', cell: (r) => (r.type === 'GenericCA' ? 'Local CA (GenericCA)' : r.type) },
    { label: 'Status', cell: (r) => enabledBadge(r.enabled) },
    { label: 'Configuration', cell: (r) => h('span', { class: 'config-text' }, valueText(r.config)) },
    { label: 'CA expires', cell: caCell },
    { label: 'CRL next update', cell: crlCell },
    { label: 'Files', cell: (r) => (r.type === 'GenericCA' && r._pki && r._pki.made
      ? h('span', { class: 'actions' },
        h('a', { href: `/.well-known/pki/ca/${encodeURIComponent(r.id)}`, download: `${r.id}-ca.pem` }, 'CA (PEM)'),
        h('a', { href: `/.well-known/pki/crl/${encodeURIComponent(r.id)}`, download: `${r.id}.crl` }, 'CRL'))
      : '—') },
  ],
  extra: (r) => (can('write') ? h('button', {
    type: 'button', class: 'btn btn-small', 'data-action': 'test',
    onclick: async (ev) => {
      ev.currentTarget.disabled = true;
      const btn = ev.currentTarget;
      try {
        const res = await api.post(`/api/v1/issuers/${encodeURIComponent(r.id)}/test`);
        toast(`Issuer ${r.name}: ${(res && res.status) || 'ok'}`);
      } catch (err) {
        toast(`Issuer ${r.name}: ${err.message}`, 'bad');
      } finally { btn.disabled = false; }
    },
  }, 'Test') : null),
  fields: [
    { name: 'name', label: 'Name', required: true },
    { name: 'type', label: 'Type', type: 'select', required: true, options: types.map((t) => ({ value: t, label: t === 'GenericCA' ? 'Local CA (GenericCA)' : t })) },
    { name: 'enabled', label: 'Enabled', type: 'checkbox', default: true },
    { name: 'config', label: 'Configuration (JSON)', type: 'json', hint: 'The type\'s settings, e.g. {"ca_common_name": "Site CA", "validity_days": 90} for a Local CA; ACME: directory_url, email, challenge_type.' },
  ],
  body: (v, rec) => ({ ...(rec ? { id: rec.id } : {}), name: v.name, type: v.type, enabled: v.enabled, config: v.config }),
  deleteMessage: (r) => `Issuer ${r.name} is deleted; certificates that name it can no longer renew.`,
});
