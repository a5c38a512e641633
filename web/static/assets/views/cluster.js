// Cluster (admins): every node's raft progress and health as the answering
// node gathers it, the last scheduled snapshot, and a warning when one more
// failure would lose quorum. Refreshed every 2 s so a new leader is seen.
import { h, mount, fmtTime, fmtBytes, fmtNumber, ago } from '../lib/dom.js';
import { api } from '../lib/api.js';
import { table, errorBox, section, pageHeader } from '../lib/ui.js';
import { facts, slot, dash, stateBadge as badge } from '../lib/resource.js';

// quorum says whether the voters can still commit: lost (healthy voters
// below a majority or no leader), at-risk (exactly a majority: one more
// failure loses it) or ok.
export function quorum(status) {
  const voters = (status.members || []).filter((m) => m.suffrage === 'voter');
  const healthy = voters.filter((m) => m.healthy).length;
  const majority = Math.floor(voters.length / 2) + 1;
  let state = 'ok';
  if (!status.leader || healthy < majority) state = 'lost';
  else if (healthy <= majority) state = 'at-risk';
  return { voters: voters.length, healthy, majority, state };
}

function banner(status) {
  const q = quorum(status);
  const counts = `${q.healthy} of ${q.voters} voter${q.voters === 1 ? '' : 's'} healthy; a majority is ${q.majority}.`;
  if (q.state === 'lost') {
    return h('div', { class: 'alert alert-bad', role: 'alert', 'data-quorum': 'lost' },
      h('strong', null, 'Quorum lost. '), status.leader ? '' : 'No leader is known. ', counts, ' Writes (renewals, revocations, changes) stop until enough voters are back.');
  }
  if (q.state === 'at-risk') {
    return h('div', { class: 'alert alert-warn', role: 'alert', 'data-quorum': 'at-risk' },
      h('strong', null, 'Quorum at risk. '), counts,
      q.voters === 1 ? ' This is a single-voter cluster: if this node fails, writes stop.' : ' One more failed voter stops all writes.');
  }
  return h('div', { class: 'alert alert-ok', role: 'status', 'data-quorum': 'ok' }, h('strong', null, 'Quorum healthy. '), counts);
}

// known shows a raft figure, or "—" for a member that could not be asked.
function known(m, v) {
  return m.state === 'unreachable' && !v ? '—' : fmtNumber(v);
}

function nodesTable(status) {
  const leaderId = status.leader && status.leader.node_id;
  const rows = (status.members || []).slice().sort((a, b) => a.node_id.localeCompare(b.node_id));
  const t = table([
    { label: 'Node', cell: (m) => h('span', null, h('strong', null, m.node_id), m.node_id === status.node_id ? h('span', { class: 'muted' }, ' (answering)') : null) },
    { label: 'State', cell: (m) => h('span', null, badge(m.state), m.node_id === leaderId ? [' ', h('span', { class: 'leader-mark', title: 'current leader', 'data-leader': 'true' }, '★ leader')] : null) },
    { label: 'Suffrage', cell: (m) => m.suffrage },
    { label: 'Health', cell: (m) => badge(m.healthy ? 'healthy' : 'unhealthy') },
    { label: 'Term', class: 'num', cell: (m) => known(m, m.term) },
    { label: 'Commit', class: 'num', cell: (m) => known(m, m.commit_index) },
    { label: 'Applied', class: 'num', cell: (m) => known(m, m.applied_index) },
    { label: 'Last log', class: 'num', cell: (m) => known(m, m.last_log_index) },
    { label: 'Data size', class: 'num', cell: (m) => (m.data_size_bytes === undefined || m.data_size_bytes === null ? '—' : fmtBytes(m.data_size_bytes)) },
    { label: 'Replication', cell: (m) => (m.state === 'unreachable' ? '—' : h('span', null,
      m.replication_stalled ? badge('stalled') : 'ok',
      m.stalled_followers && m.stalled_followers.length ? ` (${m.stalled_followers.join(', ')})` : '',
      m.replication_stalls ? h('span', { class: 'muted' }, ` · ${m.replication_stalls} stall${m.replication_stalls === 1 ? '' : 's'} seen`) : '')) },
    { label: 'Addresses', cell: (m) => h('span', { class: 'mono small addrs' }, h('span', null, `API ${dash(m.api_addr)}`), h('span', null, `raft ${dash(m.raft_addr)}`)) },
    { label: 'Error', cell: (m) => (m.error ? h('span', { class: 'error-text' }, m.error) : '—') },
  ], rows, {
    caption: `${rows.length} member${rows.length === 1 ? '' : 's'}`,
    rowAttrs: (m) => ({ 'data-id': m.node_id, 'data-state': m.state, 'data-leader': m.node_id === leaderId ? 'true' : 'false', class: m.healthy ? null : 'row-bad' }),
  });
  t.querySelector('table').setAttribute('data-testid', 'cluster-table');
  return t;
}

function snapshotCard(s) {
  if (!s) return section('Last snapshot', h('p', { class: 'muted' }, 'The leader takes no scheduled snapshots (snapshot_interval is not set), or no leader is known. Take one with certctl snapshot save.'));
  return section('Last snapshot', facts([
    ['Taken by', s.node_id],
    ['Last success', s.last_success_at ? `${fmtTime(s.last_success_at)} (${ago(s.last_success_at)})` : 'none yet'],
    ['File', s.last_success_file ? h('code', null, s.last_success_file) : ''],
    ['At raft index', s.last_success_index ? fmtNumber(s.last_success_index) : ''],
    ['Schedule', `every ${s.interval}, keeping ${s.retain} in ${s.dir}`],
    ['Failures since start', String(s.failures || 0)],
    s.last_failure_at ? ['Last failure', `${fmtTime(s.last_failure_at)}: ${s.last_error || ''}`] : null,
  ], { 'data-testid': 'snapshot-facts' }),
  s.last_failure_at && (!s.last_success_at || s.last_failure_at > s.last_success_at)
    ? h('div', { class: 'alert alert-bad', role: 'alert' }, 'The last scheduled snapshot failed: ', s.last_error || 'no reason given') : null);
}

export default {
  title: 'Cluster',
  async render(main, ctx) {
    const top = slot(h('div'));
    const nodes = slot(h('div'));
    const snap = slot(h('div'));
    const info = slot(h('div'));
    const err = slot(h('div'));
    const draw = (st) => {
      top.set(banner(st));
      info.set(h('p', { class: 'muted', 'data-field': 'cluster-info' },
        `Cluster ${st.cluster_id} · leader `, h('strong', { 'data-field': 'leader' }, st.leader ? st.leader.node_id : 'none'),
        ` · answered by ${st.node_id} at ${fmtTime(new Date())}`));
      nodes.set(nodesTable(st));
      snap.set(snapshotCard(st.snapshots));
    };
    const load = async () => {
      try {
        draw(await api.get('/api/v1/cluster', null, { signal: ctx.signal }));
        err.set(h('div'));
      } catch (e) {
        if (ctx.signal.aborted) return;
        err.set(h('div', null, errorBox(e), h('p', { class: 'muted' }, 'This node could not answer; the figures below are from its last answer.')));
      }
    };
    mount(main, h('div', { 'data-view': 'cluster' }, pageHeader('Cluster'), err.node, top.node, info.node, nodes.node, snap.node));
    await load();
    ctx.every(2000, load);
  },
};
