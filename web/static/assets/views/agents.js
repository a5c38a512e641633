// Agents: the fleet with its status, last heartbeat, version, host, OS and
// targets; counts by status and version; retire for write roles.
import { h, mount, fmtTime, ago } from '../lib/dom.js';
import { api, can } from '../lib/api.js';
import { table, toast, confirmAction, errorBox, section, pageHeader } from '../lib/ui.js';
import { loadAll, tryGet, filterBar, queryValues, slot, countsList, stateBadge, dash } from '../lib/resource.js';

const statuses = ['Online', 'Offline', 'Degraded'];

// osText is an agent's OS and architecture, as it reports them.
export function osText(a) {
  return [a.os, a.architecture].filter(Boolean).join(' / ') || '—';
}

export function agentStatus(a) {
  return a.retired_at ? 'Retired' : a.status;
}

// retire asks and retires an agent; answers whether it did.
export async function retireAgent(a) {
  const ok = await confirmAction({
    title: `Retire agent ${a.name || a.id}?`,
    message: `Its key stops working at once and it gets 410 Gone from then on. Its targets stay, with no agent to deploy to them until they are moved.`,
    confirm: 'Retire agent', danger: true,
  });
  if (!ok) return false;
  try {
    await api.del(`/api/v1/agents/${encodeURIComponent(a.id)}`);
    toast(`Agent ${a.name || a.id} retired.`);
    return true;
  } catch (err) {
    toast(err.message, 'bad');
    return false;
  }
}

// count groups records by key.
function count(rows, key) {
  const out = {};
  for (const r of rows) { const k = key(r) || 'unknown'; out[k] = (out[k] || 0) + 1; }
  return out;
}

export default {
  title: 'Agents',
  async render(main, ctx) {
    const values = queryValues(ctx.query, ['status', 'version', 'os']);
    const fleet = slot(h('div'));
    const list = slot(h('p', { class: 'loading' }, 'Loading…'));
    const filtersSlot = slot(h('div'));
    let versions = [];
    let oses = [];

    const load = async () => {
      const params = { status: values.status, version: values.version, os: values.os };
      const [all, targets, summary] = await Promise.all([
        loadAll('/api/v1/agents', {}, { signal: ctx.signal }),
        loadAll('/api/v1/targets', {}, { signal: ctx.signal }),
        tryGet('/api/v1/stats/summary', null, { signal: ctx.signal }),
      ]);
      const perAgent = count(targets, (t) => t.agent_id);
      // The filters apply here as well as in the API, so they hold on a
      // server that does not know version and os yet.
      const rows = all.filter((a) => (!params.status || a.status === params.status)
        && (!params.version || a.version === params.version)
        && (!params.os || a.os === params.os));
      const nv = [...new Set(all.map((a) => a.version).filter(Boolean))].sort();
      const no = [...new Set(all.map((a) => a.os).filter(Boolean))].sort();
      if (nv.join() !== versions.join() || no.join() !== oses.join() || !filtersSlot.node.querySelector('form')) {
        versions = nv; oses = no;
        filtersSlot.set(filterBar([
          { name: 'status', label: 'Status', options: statuses },
          { name: 'version', label: 'Version', options: versions },
          { name: 'os', label: 'OS', options: oses },
        ], values, (v) => { Object.assign(values, v); ctx.replaceQuery(values); load(); }));
      }
      const s = summary && summary.agents;
      const byStatus = s ? s.by_status : count(all, (a) => a.status);
      const byVersion = s ? s.by_version : count(all, (a) => a.version);
      const byOS = s ? s.by_os : count(all, (a) => a.os);
      fleet.set(section(`Fleet: ${s ? s.total : all.length} agents`, h('dl', { class: 'facts fleet-counts', 'data-testid': 'fleet-counts' },
        h('dt', null, 'By status'), h('dd', null, countsList(byStatus, { 'data-group': 'status' })),
        h('dt', null, 'By version'), h('dd', null, countsList(byVersion, { 'data-group': 'version' })),
        h('dt', null, 'By OS'), h('dd', null, countsList(byOS || {}, { 'data-group': 'os' })))));
      const cols = [
        { label: 'Agent', cell: (a) => h('a', { href: `#/agents/${encodeURIComponent(a.id)}` }, a.name || a.id) },
        { label: 'Status', cell: (a) => stateBadge(agentStatus(a)) },
        { label: 'Last heartbeat', cell: (a) => (a.last_heartbeat_at ? h('time', { datetime: a.last_heartbeat_at, title: fmtTime(a.last_heartbeat_at) }, ago(a.last_heartbeat_at)) : 'never') },
        { label: 'Version', cell: (a) => dash(a.version) },
        { label: 'Hostname', cell: (a) => dash(a.hostname) },
        { label: 'OS', cell: osText },
        { label: 'Targets', class: 'num', cell: (a) => (perAgent[a.id]
          ? h('a', { href: `#/agents/${encodeURIComponent(a.id)}` }, String(perAgent[a.id]))
          : '0') },
      ];
      if (can('write')) {
        cols.push({ label: 'Actions', cell: (a) => (a.retired_at ? '—' : h('button', {
          type: 'button', class: 'btn btn-small', 'data-action': 'retire',
          onclick: async () => { if (await retireAgent(a)) await load(); },
        }, 'Retire')) });
      }
      const t = table(cols, rows, { caption: `${rows.length} of ${all.length} agents`, empty: 'No agents match.', rowAttrs: (a) => ({ 'data-id': a.id }) });
      t.querySelector('table').setAttribute('data-testid', 'agents-table');
      list.set(t);
    };
    mount(main, h('div', { 'data-view': 'agents' }, pageHeader('Agents'), fleet.node, filtersSlot.node, list.node));
    try {
      await load();
    } catch (err) {
      if (!ctx.signal.aborted) list.set(errorBox(err));
      return;
    }
    ctx.every(10000, load);
  },
};
