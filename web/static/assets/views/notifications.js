// Notifications: alerts and events with their delivery; failures show their
// error, write roles mark them read and retry failed and dead ones.
import { h, mount, fmtTime } from '../lib/dom.js';
import { api, can } from '../lib/api.js';
import { table, pager, toast, errorBox, pageHeader } from '../lib/ui.js';
import { filterBar, queryValues, slot, link, stateBadge, missingRoute, shortTime } from '../lib/resource.js';

const PER_PAGE = 50;
const statuses = ['pending', 'sent', 'failed', 'dead', 'read'];
const types = ['ExpirationWarning', 'RenewalSuccess', 'RenewalFailure', 'DeploymentSuccess', 'DeploymentFailure', 'PolicyViolation', 'Revocation', 'AgentOffline'];
const channels = ['Email', 'Webhook', 'Slack', 'Teams'];

async function act(btn, fn, ok) {
  btn.disabled = true;
  try {
    await fn();
    toast(ok);
    return true;
  } catch (err) {
    toast(missingRoute(err) ? 'This server cannot retry notifications yet (the route is missing).' : err.message, 'bad');
    btn.disabled = false;
    return false;
  }
}

export default {
  title: 'Notifications',
  async render(main, ctx) {
    const values = queryValues(ctx.query, ['status', 'type', 'channel', 'certificate_id']);
    let page = Math.max(1, Number(ctx.query.get('page')) || 1);
    const list = slot(h('p', { class: 'loading' }, 'Loading…'));
    const write = can('write');
    const load = async () => {
      const res = await api.get('/api/v1/notifications', { ...values, page, per_page: PER_PAGE }, { signal: ctx.signal });
      const cols = [
        { label: 'Created', cell: (n) => shortTime(n.created_at) },
        { label: 'Status', cell: (n) => stateBadge(n.status) },
        { label: 'Type', cell: (n) => n.type },
        { label: 'Channel', cell: (n) => `${n.channel} → ${n.recipient || 'default'}` },
        { label: 'Certificate', cell: (n) => link('/certificates', n.certificate_id) },
        { label: 'Message', cell: (n) => n.message },
        { label: 'Delivery', cell: (n) => h('div', null,
          n.sent_at ? h('div', null, `sent ${fmtTime(n.sent_at)}`) : null,
          n.attempts ? h('div', null, `${n.attempts} attempt${n.attempts === 1 ? '' : 's'}`) : null,
          n.error ? h('div', { class: 'error-text', 'data-field': 'error' }, n.error) : null,
          n.next_attempt_at && (n.status === 'failed' || n.status === 'pending') ? h('div', { class: 'muted' }, `next try ${fmtTime(n.next_attempt_at)}`) : null,
          n.status === 'dead' ? h('div', { class: 'muted' }, 'retries spent') : null) },
      ];
      if (write) {
        cols.push({ label: 'Actions', cell: (n) => {
          const btns = [];
          if (n.status === 'failed' || n.status === 'dead') {
            btns.push(h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'retry', onclick: async (ev) => {
              if (await act(ev.currentTarget, () => api.post(`/api/v1/notifications/${encodeURIComponent(n.id)}/retry`), 'Notification queued again.')) await load();
            } }, 'Retry'));
          }
          if (n.status !== 'read') {
            btns.push(h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'mark-read', onclick: async (ev) => {
              if (await act(ev.currentTarget, () => api.post(`/api/v1/notifications/${encodeURIComponent(n.id)}/read`), 'Marked read.')) await load();
            } }, 'Mark read'));
          }
          return btns.length ? h('div', { class: 'actions' }, btns) : '—';
        } });
      }
      const t = table(cols, res.data, { caption: `${res.total.toLocaleString()} notification${res.total === 1 ? '' : 's'}`, empty: 'No notifications match.', rowAttrs: (n) => ({ 'data-id': n.id, 'data-status': n.status }) });
      t.querySelector('table').setAttribute('data-testid', 'notifications-table');
      list.set(h('div', null, t, pager({ page, perPage: PER_PAGE, total: res.total }, (p) => { page = p; ctx.replaceQuery({ ...values, page }); load(); })));
    };
    const filters = filterBar([
      { name: 'status', label: 'Status', options: statuses },
      { name: 'type', label: 'Type', options: types },
      { name: 'channel', label: 'Channel', options: channels },
      { name: 'certificate_id', label: 'Certificate id', placeholder: 'mc-…' },
    ], values, (v) => {
      Object.assign(values, v);
      page = 1;
      ctx.replaceQuery(values);
      load().catch((err) => list.set(errorBox(err)));
    });
    mount(main, h('div', { 'data-view': 'notifications' }, pageHeader('Notifications'), filters, list.node));
    await load();
    ctx.every(10000, load);
  },
};
