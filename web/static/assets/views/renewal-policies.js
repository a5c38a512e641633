// Renewal policies: when certificates renew, how often a failed renewal is
// retried, and when expiry alerts go out.
import { h } from '../lib/dom.js';
import { ApiError } from '../lib/api.js';
import { crudView, dash } from '../lib/resource.js';

export default crudView({
  name: 'renewal-policies',
  title: 'Renewal policies',
  singular: 'renewal policy',
  path: '/api/v1/renewal-policies',
  columns: () => [
    { label: 'Name', cell: (r) => h('strong', null, r.name) },
    { label: 'ID', cell: (r) => h('code', { class: 'id' }, r.id) },
    { label: 'Renews', cell: (r) => (r.renewal_window_days === null || r.renewal_window_days === undefined ? 'issuer default' : `${r.renewal_window_days} d before expiry`) },
    { label: 'Auto-renew', cell: (r) => h('span', { class: `badge badge-${r.auto_renew ? 'ok' : 'muted'}` }, r.auto_renew ? 'Yes' : 'No (manual)') },
    { label: 'Retries', cell: (r) => `${r.max_retries} every ${r.retry_interval_minutes} min` },
    { label: 'Alerts (days left)', cell: (r) => dash((r.alert_thresholds_days || []).join(', ')) },
    { label: 'Notify', cell: (r) => ((r.notify || []).length ? r.notify.map((n) => `${n.channel}${n.recipients && n.recipients.length ? ` → ${n.recipients.join(', ')}` : ''}${n.types && n.types.length ? ` (${n.types.join(', ')})` : ''}`).join('; ') : 'owner by default') },
  ],
  fields: [
    { name: 'name', label: 'Name', required: true },
    { name: 'renewal_window_days', label: 'Renewal window (days before expiry)', type: 'number', min: 0, hint: 'Empty: the issuer\'s default.' },
    { name: 'auto_renew', label: 'Renew automatically', type: 'checkbox', default: true },
    { name: 'max_retries', label: 'Retries after a failure', type: 'number', min: 0, default: 3 },
    { name: 'retry_interval_minutes', label: 'Minutes between retries', type: 'number', min: 1, default: 60 },
    { name: 'alert_thresholds_days', label: 'Alert thresholds (days left, comma-separated)', type: 'list', default: [30, 14, 7, 0], placeholder: '30, 14, 7, 0' },
    { name: 'notify', label: 'Notification routes (JSON)', type: 'json', empty: '[]', emptyValue: [], get: (r) => r.notify || [], default: [],
      hint: 'e.g. [{"channel": "Email", "recipients": ["pki@example.com"], "types": ["RenewalFailure"]}]; empty: the owner by e-mail.' },
  ],
  body: (v, rec) => {
    const nums = [];
    for (const x of v.alert_thresholds_days) {
      const n = Number(x);
      if (!Number.isInteger(n)) {
        throw new ApiError(400, { field: 'alert_thresholds_days', message: `"${x}" is not a whole number of days` });
      }
      nums.push(n);
    }
    return {
      ...(rec ? { id: rec.id } : {}),
      name: v.name,
      renewal_window_days: v.renewal_window_days,
      auto_renew: v.auto_renew,
      max_retries: v.max_retries === null ? undefined : v.max_retries,
      retry_interval_minutes: v.retry_interval_minutes === null ? undefined : v.retry_interval_minutes,
      alert_thresholds_days: nums,
      notify: v.notify,
    };
  },
  deleteMessage: (r) => `Renewal policy ${r.name} is deleted.`,
});
