// The overview: what is at risk (each tile a link to the list it counts),
// what needs someone's attention, when certificates expire over the next 90
// days, the soonest to expire, and the agent fleet. Refreshed every 5 s in
// place: only the parts whose data changed are redrawn.
import { h, s, mount, fmtDate, fmtNumber, ago } from '../lib/dom.js';
import { api, can, ApiError } from '../lib/api.js';
import { badge, table, toast, confirmAction, errorBox, section, pageHeader } from '../lib/ui.js';
import { refs, refName, daysCell, missingRoute, risks, sameData } from './cert-common.js';

const notYet = (what) => h('p', { class: 'muted' }, `This node does not serve ${what} yet (its API is older than the dashboard).`);

export default {
  title: 'Overview',
  async render(main, ctx) {
    const { signal } = ctx;
    const memo = {};
    const tiles = {};
    const tileList = h('ul', { class: 'tiles' });
    const addTile = (name, label, link) => {
      const count = h('span', { class: 'tile-count' }, '…');
      const note = h('span', { class: 'tile-note' });
      tiles[name] = { count, note };
      tileList.append(h('li', null, h('a', { class: `tile tile-${name}`, href: link, 'data-tile': name },
        count, h('span', { class: 'tile-label' }, label), note)));
    };
    addTile('total', 'Certificates', ctx.href('/certificates'));
    for (const r of risks) addTile(r.name, r.label, ctx.href('/certificates', { risk: r.name }));

    const riskError = h('div');
    const attention = h('div', { class: 'attention' }, h('p', { class: 'loading' }, 'Loading…'));
    const attentionTitle = h('h2', { id: 'attention-title' }, 'Needs attention');
    const timeline = h('div', { class: 'timeline' }, h('p', { class: 'loading' }, 'Loading…'));
    const soonest = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const fleet = h('ul', { class: 'fleet' });
    const updated = h('span', { class: 'updated muted', 'aria-live': 'off' });

    mount(main, h('div', { 'data-view': 'overview' },
      pageHeader('Overview', updated),
      h('section', { class: 'card', 'aria-labelledby': 'risk-title' },
        h('h2', { id: 'risk-title' }, 'Certificates at risk'), riskError, tileList),
      h('div', { class: 'grid-2' },
        h('section', { class: 'card', 'aria-labelledby': 'attention-title' }, attentionTitle, attention),
        h('section', { class: 'card', 'aria-labelledby': 'timeline-title' },
          h('h2', { id: 'timeline-title' }, 'Expiring in the next 90 days, by week'), timeline)),
      h('section', { class: 'card', 'aria-labelledby': 'soonest-title' },
        h('div', { class: 'section-head' },
          h('h2', { id: 'soonest-title' }, 'Soonest to expire'),
          h('a', { href: ctx.href('/certificates', { sort: 'expires_at' }) }, 'All certificates by expiry')),
        soonest),
      section('Fleet', fleet)));

    // Each part loads on its own: a slow or missing route leaves the others.
    const loadSummary = async () => {
      let sum;
      let listTotal;
      try {
        [sum, listTotal] = await Promise.all([
          api.get('/api/v1/stats/summary', null, { signal }),
          // The total tile links to the unfiltered list: it shows that list's
          // own total, so the two always agree.
          api.get('/api/v1/certificates', { per_page: 1 }, { signal }).then((l) => l.total),
        ]);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) throw err;
        if (!sameData(memo, 'summaryErr', String(err))) mount(riskError, missingRoute(err) ? notYet('the overview\'s counts') : errorBox(err));
        return;
      }
      if (memo.summaryErr) { memo.summaryErr = ''; mount(riskError); }
      const c = sum.certificates || {};
      const set = (name, n, note) => {
        const t = tiles[name];
        const text = fmtNumber(n || 0);
        if (t.count.textContent !== text) t.count.textContent = text;
        t.count.closest('.tile').classList.toggle('tile-zero', !n);
        if (t.note.textContent !== (note || '')) t.note.textContent = note || '';
      };
      const archived = (c.by_status && c.by_status.Archived) || 0;
      set('total', listTotal, archived ? `${fmtNumber(archived)} archived` : '');
      for (const r of risks) set(r.name, c[r.name]);
      drawFleet(sum);
    };

    const drawFleet = (sum) => {
      const by = (sum.agents && sum.agents.by_status) || {};
      const jobs = (sum.jobs && sum.jobs.by_status) || {};
      const notes = sum.notifications || {};
      const items = [
        ['Agents online', by.Online || 0, ctx.href('/agents', { status: 'Online' }), 'fleet-online'],
        ['Agents offline', by.Offline || 0, ctx.href('/agents', { status: 'Offline' }), 'fleet-offline'],
        ['Agents degraded', by.Degraded || 0, ctx.href('/agents', { status: 'Degraded' }), 'fleet-degraded'],
        ['Jobs pending', jobs.Pending !== undefined ? jobs.Pending : sum.pending_jobs || 0, ctx.href('/jobs', { status: 'Pending' }), 'fleet-pending'],
        ['Jobs running', jobs.Running || 0, ctx.href('/jobs', { status: 'Running' }), 'fleet-running'],
        ['Jobs awaiting a CSR', jobs.AwaitingCSR || 0, ctx.href('/jobs', { status: 'AwaitingCSR' }), 'fleet-awaiting'],
        ['Notifications dead', notes.dead || 0, ctx.href('/notifications', { status: 'dead' }), 'fleet-dead'],
      ];
      if (sameData(memo, 'fleet', items)) return;
      mount(fleet, items.map(([label, n, link, key]) => h('li', { 'data-fleet': key },
        h('a', { href: link }, h('span', { class: 'fleet-count' }, fmtNumber(n)), ' ', label))));
    };

    const loadAttention = async () => {
      let res;
      try {
        res = await api.get('/api/v1/stats/attention', null, { signal });
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) throw err;
        if (!sameData(memo, 'attention', `err:${err}`)) mount(attention, missingRoute(err) ? notYet('the attention queue') : errorBox(err));
        return;
      }
      const items = (res && res.items) || [];
      const total = (res && res.total) || items.length;
      const shown = { items, total, write: can('write') };
      // Times are shown relative: redraw at least every minute for them.
      const minute = Math.floor(Date.now() / 60000);
      if (sameData(memo, 'attention', { shown, minute })) return;
      attentionTitle.textContent = total ? `Needs attention (${fmtNumber(total)})` : 'Needs attention';
      if (!items.length) {
        mount(attention, h('p', { class: 'all-clear' }, 'Nothing needs attention.'));
        return;
      }
      const keepFocus = attention.contains(document.activeElement) && document.activeElement.dataset.key;
      mount(attention,
        h('ul', { class: 'attention-list', 'data-testid': 'attention-list' }, items.map((it) => attentionItem(it))),
        total > items.length ? h('p', { class: 'muted' }, `The ${items.length} newest of ${fmtNumber(total)}.`) : null);
      if (keepFocus) {
        const el = attention.querySelector(`[data-key="${CSS.escape(keepFocus)}"]`);
        if (el) el.focus();
      }
    };

    const attentionItem = (it) => {
      const link = it.job_id ? ctx.href(`/jobs/${encodeURIComponent(it.job_id)}`)
        : it.certificate_id ? ctx.href(`/certificates/${encodeURIComponent(it.certificate_id)}`)
          : it.agent_id ? ctx.href(`/agents/${encodeURIComponent(it.agent_id)}`)
            : it.notification_id ? ctx.href('/notifications', { status: 'dead' }) : null;
      const key = `${it.kind}:${it.job_id || it.certificate_id || it.agent_id || it.notification_id || it.title}`;
      const sev = it.severity || 'warning';
      const retry = it.retry && can('write') && validRetry(it.retry)
        ? h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'retry', 'data-key': `retry:${key}`, onclick: () => doRetry(it) }, 'Retry')
        : null;
      return h('li', { class: `attention-item sev-${sev}`, 'data-kind': it.kind, 'data-id': it.job_id || it.certificate_id || it.agent_id || it.notification_id || null },
        h('span', { class: `badge badge-${sev === 'critical' || sev === 'error' ? 'bad' : 'warn'}` }, sev),
        h('div', { class: 'attention-text' },
          link ? h('a', { href: link, 'data-key': `link:${key}` }, it.title || it.kind) : h('strong', null, it.title || it.kind),
          it.detail ? h('div', { class: 'attention-detail' }, it.detail) : null,
          it.since ? h('small', { class: 'muted' }, `since ${ago(it.since)}`) : null),
        retry);
    };

    // A retry is a request to this API only, with a method that may change
    // state; anything else in the answer is not followed.
    const validRetry = (r) => r && typeof r.path === 'string' && r.path.startsWith('/api/v1/') && !r.path.includes('..')
      && ['POST', 'PUT'].includes(String(r.method || 'POST').toUpperCase());

    const doRetry = async (it) => {
      const ok = await confirmAction({ title: 'Retry?', message: `${it.title || it.kind}${it.detail ? ` — ${it.detail}` : ''}`, confirm: 'Retry' });
      if (!ok) return;
      const method = String(it.retry.method || 'POST').toUpperCase();
      try {
        const body = it.retry.body || undefined;
        if (method === 'PUT') await api.put(it.retry.path, body);
        else await api.post(it.retry.path, body);
        toast(`Retry requested: ${it.title || it.kind}`, 'ok');
      } catch (err) {
        toast(`Retry failed: ${err.message}`, 'bad');
      }
      refresh();
    };

    const loadTimeline = async () => {
      let res;
      try {
        res = await api.get('/api/v1/stats/expiration-timeline', { days: 90, bucket: 'week' }, { signal });
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) throw err;
        if (!sameData(memo, 'timeline', `err:${err}`)) mount(timeline, missingRoute(err) ? notYet('the expiry timeline') : errorBox(err));
        return;
      }
      const buckets = (res && res.buckets) || [];
      if (sameData(memo, 'timeline', buckets)) return;
      mount(timeline, drawTimeline(buckets));
    };

    const loadSoonest = async () => {
      let rows;
      try {
        rows = await soonestRows(signal);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) throw err;
        if (!sameData(memo, 'soonest', `err:${err}`)) mount(soonest, errorBox(err));
        return;
      }
      const day = Math.floor(Date.now() / 3600000); // days left change: redraw hourly at least
      if (sameData(memo, 'soonest', { rows, day })) return;
      const r = await refs(signal, ['owners', 'teams', 'issuers']);
      const t = table([
        { label: 'Name', cell: (c) => h('a', { href: ctx.href(`/certificates/${encodeURIComponent(c.id)}`) }, c.name || c.id) },
        { label: 'Common name', cell: (c) => h('span', { class: 'mono' }, c.common_name) },
        { label: 'Owner', cell: (c) => refName(r.owners, c.owner_id) },
        { label: 'Team', cell: (c) => refName(r.teams, c.team_id) },
        { label: 'Issuer', cell: (c) => refName(r.issuers, c.issuer_id) },
        { label: 'Expires', class: 'nowrap', cell: (c) => fmtDate(c.expires_at) },
        { label: 'Days left', class: 'num', cell: (c) => daysCell(c.expires_at) },
        { label: 'Status', cell: (c) => badge(c.status) },
      ], rows, { empty: 'No certificate expires soon.', rowAttrs: (c) => ({ 'data-id': c.id }) });
      t.querySelector('table').setAttribute('data-testid', 'soonest-table');
      mount(soonest, t);
    };

    const refresh = async () => {
      await Promise.all([loadSummary(), loadAttention(), loadTimeline(), loadSoonest()]);
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    };
    await refresh();
    ctx.every(5000, refresh);
  },
};

// soonestRows answers the ten certificates in use that expire next. The risk
// filter expiring_30d leaves out Archived and Revoked ones (the server's
// definition, as the tiles count); when fewer than ten expire within 30 days
// the list goes on with those expiring later, in use, from a second page.
async function soonestRows(signal) {
  const now = new Date();
  let rows = [];
  try {
    const l = await api.get('/api/v1/certificates', { risk: 'expiring_30d', sort: 'expires_at', per_page: 10 }, { signal });
    // The server's risk filter already leaves these out; an older server
    // that ignores the filter answers every certificate by expiry.
    rows = (l.data || []).filter((c) => c.expires_at && new Date(c.expires_at) > now && c.status !== 'Archived' && c.status !== 'Revoked');
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 400 && err.field === 'risk')) throw err;
  }
  if (rows.length < 10) {
    const after = rows.length ? new Date(Math.max(now.getTime() + 30 * 86400000, new Date(rows[rows.length - 1].expires_at).getTime())) : now;
    const l = await api.get('/api/v1/certificates', { expires_after: after.toISOString(), sort: 'expires_at', per_page: 20 }, { signal });
    const seen = new Set(rows.map((c) => c.id));
    for (const c of l.data || []) {
      if (rows.length >= 10) break;
      if (seen.has(c.id) || c.status === 'Archived' || c.status === 'Revoked') continue;
      rows.push(c);
    }
  }
  return rows;
}

// drawTimeline is a bar chart of the weekly buckets with a table of the same
// numbers for screen readers and for reading exact values.
function drawTimeline(buckets) {
  if (!buckets.length) return h('p', { class: 'muted' }, 'No data.');
  // A narrow screen gets a narrower drawing, so its text stays readable.
  const narrow = window.matchMedia('(max-width: 600px)').matches;
  const W = narrow ? 360 : 640;
  const H = narrow ? 220 : 200;
  const every = Math.max(1, Math.ceil(buckets.length / (W / 75)));
  const pad = { l: 36, r: 8, t: 12, b: 34 };
  const max = Math.max(1, ...buckets.map((b) => b.count || 0));
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const bw = (W - pad.l - pad.r) / buckets.length;
  const y = (v) => pad.t + (H - pad.t - pad.b) * (1 - v / top);
  const grid = [];
  for (let v = 0; v <= top; v += step) {
    grid.push(s('line', { x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v), class: 'chart-grid' }),
      s('text', { x: pad.l - 6, y: y(v) + 4, class: 'chart-axis', 'text-anchor': 'end' }, String(v)));
  }
  const label = (b) => `${fmtDate(b.start)} – ${fmtDate(b.end)}`;
  const bars = buckets.map((b, i) => {
    const x = pad.l + i * bw + bw * 0.15;
    const hgt = y(0) - y(b.count || 0);
    const text = `${label(b)}: ${b.count} certificate${b.count === 1 ? '' : 's'} expiring`;
    const bar = s('rect', { x, y: y(b.count || 0), width: bw * 0.7, height: Math.max(hgt, b.count ? 2 : 0), class: i < 1 ? 'chart-bar chart-bar-soon' : 'chart-bar' },
      s('title', null, text));
    const lbl = i % every === 0
      ? s('text', { x: x + bw * 0.35, y: H - pad.b + 16, class: 'chart-axis', 'text-anchor': 'middle' }, shortDate(b.start))
      : null;
    const val = b.count ? s('text', { x: x + bw * 0.35, y: y(b.count) - 3, class: 'chart-value', 'text-anchor': 'middle' }, String(b.count)) : null;
    return [bar, val, lbl];
  });
  const total = buckets.reduce((n, b) => n + (b.count || 0), 0);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `Certificates expiring per week over the next 90 days: ${total} in all; the table below has each week.` },
    grid, bars);
  return [
    svg,
    h('details', { class: 'chart-table' },
      h('summary', null, 'Show as a table'),
      table([
        { label: 'Week', cell: (b) => label(b) },
        { label: 'Expiring', class: 'num', cell: (b) => String(b.count) },
      ], buckets, { caption: 'Certificates expiring per week' })),
  ];
}

function shortDate(v) {
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

function niceStep(max) {
  const raw = max / 4;
  const p = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return Math.max(1, m * p);
  return Math.max(1, 10 * p);
}
