// Jobs: the lifecycle work (issuance, renewal, deployment, validation) with
// its status, attempts and last error; filters, paging, cancel for write
// roles, refreshed live.
import { h, mount, fmtTime } from '../lib/dom.js';
import { api, can } from '../lib/api.js';
import { table, pager, toast, confirmAction, errorBox, pageHeader } from '../lib/ui.js';
import { filterBar, queryValues, slot, link, stateBadge, dash, shortTime } from '../lib/resource.js';

export const jobStatuses = ['Pending', 'AwaitingCSR', 'Running', 'Completed', 'Failed', 'Cancelled'];
export const jobTypes = ['Issuance', 'Renewal', 'Deployment', 'Validation'];
const PER_PAGE = 50;

// cancellable: a job that has not finished.
export function cancellable(j) {
  return j.status === 'Pending' || j.status === 'AwaitingCSR' || j.status === 'Running';
}

// cancelJob asks and cancels; answers whether it did.
export async function cancelJob(j) {
  const ok = await confirmAction({
    title: `Cancel job ${j.id}?`,
    message: `The ${j.type.toLowerCase()} of ${j.certificate_id} stops here${j.status === 'Running' ? '; an agent already working on it has its report refused' : ''}.`,
    confirm: 'Cancel job', danger: true,
  });
  if (!ok) return false;
  try {
    await api.post(`/api/v1/jobs/${encodeURIComponent(j.id)}/cancel`);
    toast(`Job ${j.id} cancelled.`);
    return true;
  } catch (err) {
    toast(err.message, 'bad');
    return false;
  }
}

// after says how long after from the time v came, e.g. "+3 s" (its exact
// time as the title), keeping the table narrow.
export function after(from, v) {
  if (!v) return '—';
  const sec = Math.max(0, Math.round((new Date(v) - new Date(from)) / 1000));
  const d = sec < 60 ? `${sec} s` : sec < 3600 ? `${Math.floor(sec / 60)} min` : sec < 86400 ? `${Math.floor(sec / 3600)} h ${Math.floor((sec % 3600) / 60)} min` : `${Math.floor(sec / 86400)} d`;
  return h('time', { datetime: v, title: fmtTime(v) }, `+${d}`);
}

// jobsTable is the table of jobs; opts: {testid, hide: [column keys], onChange}.
export function jobsTable(rows, opts = {}) {
  const hide = new Set(opts.hide || []);
  const cols = [
    { key: 'id', label: 'Job', cell: (j) => h('a', { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id) },
    { key: 'status', label: 'Status', cell: (j) => stateBadge(j.status) },
    { key: 'type', label: 'Type', cell: (j) => j.type },
    { key: 'certificate', label: 'Certificate', cell: (j) => link('/certificates', j.certificate_id) },
    { key: 'target', label: 'Target', cell: (j) => dash(j.target_id) },
    { key: 'agent', label: 'Agent', cell: (j) => link('/agents', j.agent_id) },
    { key: 'attempts', label: 'Attempts', class: 'num', cell: (j) => `${j.attempts}/${j.max_attempts}` },
    { key: 'error', label: 'Last error', cell: (j) => (j.last_error ? h('span', { class: 'error-text', title: j.last_error }, j.last_error.length > 140 ? `${j.last_error.slice(0, 140)}…` : j.last_error) : '—') },
    { key: 'created', label: 'Created', cell: (j) => shortTime(j.created_at) },
    { key: 'started', label: 'Started', title: 'time after creation', cell: (j) => after(j.created_at, j.started_at) },
    { key: 'completed', label: 'Completed', cell: (j) => after(j.started_at || j.created_at, j.completed_at) },
  ].filter((c) => !hide.has(c.key));
  if (can('write') && !hide.has('actions')) {
    cols.push({ key: 'actions', label: 'Actions', cell: (j) => (cancellable(j)
      ? h('button', { type: 'button', class: 'btn btn-small btn-danger', 'data-action': 'cancel', onclick: async () => { if (await cancelJob(j) && opts.onChange) opts.onChange(); } }, 'Cancel')
      : '—') });
  }
  const t = table(cols, rows, { empty: opts.empty || 'No jobs.', caption: opts.caption, rowAttrs: (j) => ({ 'data-id': j.id, 'data-status': j.status }) });
  t.querySelector('table').setAttribute('data-testid', opts.testid || 'jobs-table');
  return t;
}

export default {
  title: 'Jobs',
  async render(main, ctx) {
    const names = ['status', 'type', 'agent_id', 'certificate_id'];
    const values = queryValues(ctx.query, names);
    let page = Math.max(1, Number(ctx.query.get('page')) || 1);
    const list = slot(h('p', { class: 'loading' }, 'Loading…'));
    const load = async () => {
      const res = await api.get('/api/v1/jobs', { ...values, page, per_page: PER_PAGE }, { signal: ctx.signal });
      list.set(h('div', null,
        h('p', { class: 'muted small' }, 'Started: time after creation; completed: time after the start (hover for the exact time).'),
        jobsTable(res.data, { caption: `${res.total.toLocaleString()} job${res.total === 1 ? '' : 's'} `, empty: 'No jobs match.', onChange: load }),
        pager({ page, perPage: PER_PAGE, total: res.total }, (p) => { page = p; ctx.replaceQuery({ ...values, page }); load(); })));
    };
    const filters = filterBar([
      { name: 'status', label: 'Status', options: jobStatuses },
      { name: 'type', label: 'Type', options: jobTypes },
      { name: 'agent_id', label: 'Agent id', placeholder: 'ag-…' },
      { name: 'certificate_id', label: 'Certificate id', placeholder: 'mc-…' },
    ], values, (v) => {
      Object.assign(values, v);
      page = 1;
      ctx.replaceQuery(values);
      load().catch((err) => list.set(errorBox(err)));
    });
    mount(main, h('div', { 'data-view': 'jobs' }, pageHeader('Jobs'), filters, list.node));
    await load();
    ctx.every(3000, load);
  },
};
