// An agent: what it reports, its targets and its jobs.
import { h, mount, fmtTime, ago } from '../lib/dom.js';
import { api, can } from '../lib/api.js';
import { table, section, pageHeader } from '../lib/ui.js';
import { facts, slot, stateBadge, enabledBadge, loadAll } from '../lib/resource.js';
import { osText, agentStatus, retireAgent } from './agents.js';
import { jobsTable } from './jobs.js';

export default {
  title: 'Agent',
  async render(main, ctx) {
    const id = ctx.params.id;
    const head = slot(h('div'));
    const about = slot(h('div'));
    const targetsSlot = slot(h('div'));
    const jobsSlot = slot(h('div'));
    const load = async () => {
      const [a, targets, jobs] = await Promise.all([
        api.get(`/api/v1/agents/${encodeURIComponent(id)}`, null, { signal: ctx.signal }),
        loadAll('/api/v1/targets', { agent_id: id }, { signal: ctx.signal }),
        api.get('/api/v1/jobs', { agent_id: id, per_page: 50 }, { signal: ctx.signal }),
      ]);
      document.title = `Agent ${a.name || a.id} · certctl`;
      head.set(pageHeader(`Agent ${a.name || a.id}`,
        can('write') && !a.retired_at
          ? h('button', { type: 'button', class: 'btn btn-danger', 'data-action': 'retire', onclick: async () => { if (await retireAgent(a)) await load(); } }, 'Retire')
          : null));
      about.set(section('Agent', facts([
        ['ID', h('code', { class: 'id' }, a.id)],
        ['Status', stateBadge(agentStatus(a))],
        ['Last heartbeat', a.last_heartbeat_at ? `${ago(a.last_heartbeat_at)} (${fmtTime(a.last_heartbeat_at)})` : 'never'],
        ['Hostname', a.hostname],
        ['Version', a.version],
        ['OS / architecture', osText(a)],
        ['IP address', a.ip_address],
        ['Registered', fmtTime(a.registered_at)],
        a.retired_at ? ['Retired', fmtTime(a.retired_at)] : null,
      ], { 'data-testid': 'agent-facts' })));
      const tt = table([
        { label: 'Target', cell: (t) => h('strong', null, t.name) },
        { label: 'ID', cell: (t) => h('code', { class: 'id' }, t.id) },
        { label: 'Type', cell: (t) => t.type },
        { label: 'Status', cell: (t) => enabledBadge(t.enabled) },
        { label: 'Certificates', cell: (t) => h('a', { href: `#/certificates?target_id=${encodeURIComponent(t.id)}` }, 'View') },
      ], targets, { empty: 'No targets on this agent.', rowAttrs: (t) => ({ 'data-id': t.id }) });
      tt.querySelector('table').setAttribute('data-testid', 'agent-targets-table');
      targetsSlot.set(section(`Targets (${targets.length})`, tt));
      jobsSlot.set(section(`Jobs (${jobs.total})`,
        jobsTable(jobs.data, { testid: 'agent-jobs-table', hide: ['agent'] }),
        jobs.total > jobs.data.length ? h('p', null, h('a', { href: ctx.href('/jobs', { agent_id: id }) }, `All ${jobs.total} jobs of this agent`)) : null));
    };
    mount(main, h('div', { 'data-view': 'agent', 'data-id': id }, head.node, h('p', { class: 'crumbs' }, h('a', { href: '#/agents' }, '‹ Agents')), about.node, targetsSlot.node, jobsSlot.node));
    await load();
    ctx.every(5000, load);
  },
};
