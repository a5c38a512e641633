// A job: its facts, a timeline (created, scheduled, each attempt, the end),
// the deployment's result and validation, and the related audit events (the
// job's own and its certificate's around that time) for roles with audit
// access. Refreshed live until the job ends.
import { h, mount, fmtTime } from '../lib/dom.js';
import { api, can } from '../lib/api.js';
import { section, pageHeader, errorBox } from '../lib/ui.js';
import { facts, slot, stateBadge, link, dash, objectFacts, detailsText, toneBadge } from '../lib/resource.js';
import { cancellable, cancelJob } from './jobs.js';
import { auditTable } from './audit.js';

const terminal = new Set(['Completed', 'Failed', 'Cancelled']);

// timeline builds the job's steps from its fields and, when known, its
// audit events (each claim is an attempt).
export function timeline(j, events) {
  const steps = [{ at: j.created_at, label: 'Created', detail: `${j.type} job` }];
  if (j.scheduled_at && j.scheduled_at !== j.created_at) steps.push({ at: j.scheduled_at, label: 'Scheduled', detail: 'due to run' });
  else if (j.scheduled_at) steps.push({ at: j.scheduled_at, label: 'Scheduled', detail: 'to run at once' });
  const seen = new Set();
  for (const e of events || []) {
    if (e.resource_id !== j.id) continue;
    const d = e.details || {};
    switch (e.action) {
      case 'job_claimed':
        seen.add('attempt');
        steps.push({ at: e.timestamp, label: `Attempt ${d.attempt || ''}`.trim(), detail: `claimed by ${d.holder || e.actor}${d.lease_until ? `, lease until ${fmtTime(d.lease_until)}` : ''}` });
        break;
      case 'job_started': steps.push({ at: e.timestamp, label: 'Started', detail: detailsText(d) }); seen.add('started'); break;
      case 'job_awaiting_csr': steps.push({ at: e.timestamp, label: 'Awaiting CSR', detail: 'waiting for the agent to send a CSR' }); break;
      case 'job_retry_scheduled': steps.push({ at: e.timestamp, label: 'Retry scheduled', detail: detailsText(d), tone: 'warn' }); break;
      case 'job_lease_released': steps.push({ at: e.timestamp, label: 'Lease released', detail: detailsText(d) }); break;
      case 'job_failed': steps.push({ at: e.timestamp, label: 'Failed', detail: d.error || detailsText(d), tone: 'bad' }); seen.add('end'); break;
      case 'job_completed': steps.push({ at: e.timestamp, label: 'Completed', detail: detailsText(d), tone: 'ok' }); seen.add('end'); break;
      case 'job_cancelled': steps.push({ at: e.timestamp, label: 'Cancelled', detail: `by ${e.actor}`, tone: 'muted' }); seen.add('end'); break;
      default: break;
    }
  }
  if (j.started_at && !seen.has('attempt') && !seen.has('started')) {
    steps.push({ at: j.started_at, label: 'Started', detail: `attempt ${j.attempts} of ${j.max_attempts}` });
  }
  if (j.completed_at && !seen.has('end')) {
    const tone = j.status === 'Completed' ? 'ok' : j.status === 'Failed' ? 'bad' : 'muted';
    steps.push({ at: j.completed_at, label: j.status, detail: j.last_error || '', tone });
  }
  if (!terminal.has(j.status)) steps.push({ at: null, label: `Now: ${j.status}`, detail: j.lease_expires_at ? `lease held by ${j.lease_holder || '?'} until ${fmtTime(j.lease_expires_at)}` : '', tone: 'info' });
  steps.sort((a, b) => (a.at === null) - (b.at === null) || new Date(a.at) - new Date(b.at));
  return steps;
}

function timelineList(steps) {
  return h('ol', { class: 'timeline', 'data-testid': 'job-timeline' }, steps.map((s) => h('li', { class: `tl-${s.tone || 'info'}`, 'data-step': s.label },
    h('span', { class: 'tl-when' }, s.at ? h('time', { datetime: s.at }, fmtTime(s.at)) : '—'),
    h('strong', { class: 'tl-label' }, s.label),
    s.detail ? h('span', { class: 'tl-detail' }, s.detail) : null)));
}

// result shows a deployment result's facts, validation first.
function result(j) {
  let r = j.deployment_result;
  if (!r) return null;
  if (typeof r === 'string') { try { r = JSON.parse(r); } catch { /* shown as text */ } }
  let verdict = null;
  if (r && typeof r === 'object' && 'validated' in r) {
    verdict = r.validated
      ? h('p', { 'data-field': 'validated' }, toneBadge('Validated', 'ok'), ' the host served the deployed certificate.')
      : h('p', { 'data-field': 'validated' }, toneBadge('Not validated', 'bad'), ' the host did not prove it serves the deployed certificate.');
  }
  return section('Deployment result', verdict, objectFacts(r, { 'data-testid': 'deployment-result' }));
}

export default {
  title: 'Job',
  async render(main, ctx) {
    const id = ctx.params.id;
    const head = slot(h('div'));
    const about = slot(h('div'));
    const steps = slot(h('div'));
    const res = slot(h('div'));
    const auditSlot = slot(h('div'));
    let done = false;
    const load = async () => {
      if (done) return;
      const j = await api.get(`/api/v1/jobs/${encodeURIComponent(id)}`, null, { signal: ctx.signal });
      let own = [];
      let related = [];
      let auditErr = null;
      if (can('audit')) {
        try {
          const mine = await api.get('/api/v1/audit', { resource_id: j.id, per_page: 200 }, { signal: ctx.signal });
          own = mine.data;
          if (j.certificate_id) {
            const from = new Date(new Date(j.created_at).getTime() - 5 * 60000).toISOString();
            const to = new Date((j.completed_at ? new Date(j.completed_at).getTime() : Date.now()) + 5 * 60000).toISOString();
            const cert = await api.get('/api/v1/audit', { resource_id: j.certificate_id, from, to, per_page: 200 }, { signal: ctx.signal });
            related = cert.data;
          }
        } catch (err) { auditErr = err; }
      }
      document.title = `Job ${j.id} · certctl`;
      head.set(pageHeader(`Job ${j.id}`, can('write') && cancellable(j)
        ? h('button', { type: 'button', class: 'btn btn-danger', 'data-action': 'cancel', onclick: async () => { if (await cancelJob(j)) { done = false; await load(); } } }, 'Cancel job')
        : null));
      about.set(section('Job', facts([
        ['Status', stateBadge(j.status)],
        ['Type', j.type],
        ['Certificate', link('/certificates', j.certificate_id)],
        ['Target', dash(j.target_id)],
        ['Agent', link('/agents', j.agent_id)],
        ['Attempts', `${j.attempts} of ${j.max_attempts}`],
        ['Last error', j.last_error ? h('span', { class: 'error-text' }, j.last_error) : ''],
        j.lease_holder ? ['Lease', `${j.lease_holder} until ${fmtTime(j.lease_expires_at)}`] : null,
      ], { 'data-testid': 'job-facts' })));
      steps.set(section('Timeline', timelineList(timeline(j, own))));
      res.set(result(j) || h('div'));
      if (can('audit')) {
        const events = [...own, ...related.filter((e) => !own.some((o) => o.id === e.id))].sort((a, b) => a.seq - b.seq);
        auditSlot.set(section('Audit events', auditErr ? errorBox(auditErr) : null,
          h('p', { class: 'muted' }, `The job's events and its certificate's from 5 min before it was created to 5 min after it ended. `,
            h('a', { href: ctx.href('/audit', { resource_id: j.id }) }, 'Open in the audit trail')),
          auditTable(events, { testid: 'job-audit-table', empty: 'No audit events.' })));
      }
      done = terminal.has(j.status);
    };
    mount(main, h('div', { 'data-view': 'job', 'data-id': id }, head.node, h('p', { class: 'crumbs' }, h('a', { href: '#/jobs' }, '‹ Jobs')), about.node, steps.node, res.node, auditSlot.node));
    await load();
    ctx.every(2000, load);
  },
};
