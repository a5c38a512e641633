// The certificate list: filters, search, sort by column and pages, all
// answered by the server (a page of 50 at a time, whatever the fleet's size)
// and kept in the URL so a reload or the back button finds the same list;
// bulk renew (operators, admins) and bulk revoke (admins) of checked rows.
// The page refreshes itself every few seconds: rows that changed are drawn
// again in place, new ones appear, and the checked rows, the focus and an
// open dialog stay; nothing is refreshed while a bulk action is under way.
import { h, mount, fmtDate, fmtNumber } from '../lib/dom.js';
import { api, can, ApiError } from '../lib/api.js';
import { badge, table, tableRow, pager, toast, confirmAction, errorBox, field, pageHeader, revocationReasons } from '../lib/ui.js';
import { refs, refName, daysCell, certStatuses, keyTypes, risks, missingRoute } from './cert-common.js';

const PER_PAGE = 50;
// REFRESH_MS is how often the shown page is fetched again.
const REFRESH_MS = 5000;
// The query keys this view keeps in the URL, named as the API's filters.
const FILTERS = ['q', 'status', 'risk', 'environment', 'owner_id', 'team_id', 'issuer_id', 'agent_id', 'target_id', 'key_type', 'expires_after', 'expires_before'];

export default {
  title: 'Certificates',
  async render(main, ctx) {
    const { signal } = ctx;
    const state = { filters: {}, sort: ctx.query.get('sort') || '', page: Math.max(1, parseInt(ctx.query.get('page'), 10) || 1) };
    for (const k of FILTERS) if (ctx.query.get(k)) state.filters[k] = ctx.query.get(k);
    const selected = new Set();
    const r = await refs(signal);

    const results = h('div', { class: 'results', 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Loading…'));
    const summary = h('p', { class: 'muted', 'aria-live': 'polite', id: 'list-summary' });
    const bulkBox = h('div');
    const bulkResult = h('div', { 'aria-live': 'polite' });

    // Filters.
    const opts = (map) => [...map.values()].sort((a, b) => String(a.name).localeCompare(String(b.name)))
      .map((x) => ({ value: x.id, label: x.name || x.id }));
    const select = (name, label, options, anyLabel = 'Any') => {
      const el = h('select', { name, id: `flt-${name}` },
        h('option', { value: '' }, anyLabel),
        options.map((o) => h('option', { value: o.value, selected: state.filters[name] === o.value }, o.label)));
      // A value from the URL that is not among the options still filters, and shows.
      if (state.filters[name] && !options.some((o) => o.value === state.filters[name])) {
        el.append(h('option', { value: state.filters[name], selected: true }, state.filters[name]));
      }
      el.addEventListener('change', () => setFilter(name, el.value));
      return field(label, el);
    };
    const search = h('input', { type: 'search', name: 'q', id: 'flt-q', value: state.filters.q || '', placeholder: 'Name or common name', autocomplete: 'off' });
    let debounce = 0;
    search.addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => setFilter('q', search.value.trim()), 300);
    });
    const env = h('input', { type: 'text', name: 'environment', id: 'flt-environment', value: state.filters.environment || '', list: 'env-list', size: 12, autocomplete: 'off' });
    env.addEventListener('change', () => setFilter('environment', env.value.trim()));
    const narrow = window.matchMedia('(max-width: 760px)');
    const sortSelect = h('select', { name: 'sort', id: 'flt-sort' },
      h('option', { value: '' }, 'ID'),
      [['name', 'Name'], ['common_name', 'Common name'], ['status', 'Status'], ['environment', 'Environment'], ['expires_at', 'Expiry'], ['created_at', 'Created'], ['updated_at', 'Updated']]
        .flatMap(([k, label]) => [h('option', { value: k }, `${label} ↑`), h('option', { value: `-${k}` }, `${label} ↓`)]));
    sortSelect.value = state.sort;
    sortSelect.addEventListener('change', () => { state.sort = sortSelect.value; state.page = 1; changed(); });
    const sortField = h('div', { class: 'phone-only' }, field('Sort by', sortSelect));
    const filterForm = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter certificates', onsubmit: (ev) => { ev.preventDefault(); clearTimeout(debounce); setFilter('q', search.value.trim()); } },
      field('Search', search),
      select('status', 'Status', certStatuses.map((v) => ({ value: v, label: v }))),
      select('risk', 'Risk', risks.map((x) => ({ value: x.name, label: x.label }))),
      field('Environment', env),
      h('datalist', { id: 'env-list' }, ['production', 'staging', 'development', 'test'].map((v) => h('option', { value: v }))),
      select('owner_id', 'Owner', opts(r.owners)),
      select('team_id', 'Team', opts(r.teams)),
      select('issuer_id', 'Issuer', opts(r.issuers)),
      select('agent_id', 'Agent', opts(r.agents)),
      select('target_id', 'Target', opts(r.targets)),
      select('key_type', 'Key type', keyTypes.map((v) => ({ value: v, label: v }))),
      sortField,
      h('div', { class: 'field' }, h('button', { type: 'button', class: 'btn', 'data-action': 'clear-filters', onclick: clearFilters }, 'Clear filters')));
    // On a phone the filters fold away (open when one is set), and the
    // sort, whose column headers are hidden there, is a select.
    const filterBox = h('details', { class: 'filters-box', open: !narrow.matches || Object.keys(state.filters).length > 0 },
      h('summary', null, 'Filters'), filterForm);
    narrow.addEventListener('change', () => { if (!narrow.matches) filterBox.open = true; });
    // Expiry bounds come from links (the timeline); shown so they can be removed.
    const bounds = h('div');

    mount(main, h('div', { 'data-view': 'certificates' },
      pageHeader('Certificates', can('write') ? h('a', { class: 'btn btn-primary', href: ctx.href('/certificates/new'), 'data-action': 'create' }, 'New certificate') : null),
      filterBox, bounds, summary, bulkBox, bulkResult, results));

    function drawBounds() {
      const b = [];
      if (state.filters.expires_after) b.push(`expiring after ${fmtDate(state.filters.expires_after)}`);
      if (state.filters.expires_before) b.push(`expiring before ${fmtDate(state.filters.expires_before)}`);
      mount(bounds, b.length ? h('p', { class: 'alert alert-info' }, `Only certificates ${b.join(' and ')}. `,
        h('button', { type: 'button', class: 'btn btn-small', onclick: () => { delete state.filters.expires_after; delete state.filters.expires_before; state.page = 1; changed(); } }, 'Remove')) : null);
    }

    function writeURL() {
      ctx.replaceQuery({ ...state.filters, sort: state.sort, page: state.page > 1 ? state.page : '' });
    }

    function changed() {
      selected.clear();
      writeURL();
      drawBounds();
      load();
    }

    function setFilter(name, value) {
      if ((state.filters[name] || '') === value) return;
      if (value) state.filters[name] = value; else delete state.filters[name];
      state.page = 1;
      changed();
    }

    function clearFilters() {
      state.filters = {};
      state.page = 1;
      for (const el of filterForm.querySelectorAll('select, input')) if (el !== sortSelect) el.value = '';
      changed();
    }

    function onSort(key) {
      state.sort = state.sort === key ? `-${key}` : key;
      sortSelect.value = state.sort;
      state.page = 1;
      changed();
    }

    let seq = 0;
    let rows = [];
    let loading = false; // a load() is waiting for its answer
    let busy = false; // a bulk action is being confirmed or sent
    let drawn = null; // the table shown: {columns, opts, all, tbody, pagerEl, total}
    const listParams = () => ({ ...state.filters, sort: state.sort, page: state.page, per_page: PER_PAGE });
    async function load() {
      const mine = ++seq;
      results.setAttribute('aria-busy', 'true');
      let l;
      loading = true;
      try {
        l = await api.get('/api/v1/certificates', listParams(), { signal });
      } catch (err) {
        if (mine === seq) loading = false;
        if (mine !== seq || signal.aborted || (err instanceof ApiError && err.status === 401)) return;
        results.removeAttribute('aria-busy');
        mount(summary);
        mount(results, errorBox(err));
        return;
      }
      if (mine !== seq) return;
      loading = false;
      const total = l.total || 0;
      const pages = Math.max(1, Math.ceil(total / PER_PAGE));
      if (state.page > pages && total > 0) { // past the end (the list shrank): the last page
        state.page = pages;
        writeURL();
        load();
        return;
      }
      rows = l.data || [];
      results.removeAttribute('aria-busy');
      drawSummary(total);
      drawTable(total);
      drawBulk();
    }

    function drawSummary(total) {
      const filtered = Object.keys(state.filters).length > 0;
      summary.textContent = `${fmtNumber(total)} certificate${total === 1 ? '' : 's'}${filtered ? ' match' + (total === 1 ? 'es' : '') + ' the filters' : ''}.`;
    }

    // refresh fetches the page shown again and updates it in place: an
    // unchanged row keeps its element (and so its checkbox, focus and
    // scroll), a changed one is drawn again where it was, with the focus
    // moved to the same control in it. It does nothing while the page is
    // loading another list or a bulk action is under way.
    async function refresh() {
      if (busy || loading || !drawn || document.querySelector('dialog[open]')) return;
      const mine = seq;
      const l = await api.get('/api/v1/certificates', listParams(), { signal });
      if (mine !== seq || busy || loading || !drawn || signal.aborted) return;
      const fresh = l.data || [];
      const total = l.total || 0;
      const pages = Math.max(1, Math.ceil(total / PER_PAGE));
      if (state.page > pages && total > 0) { load(); return; }
      drawSummary(total);
      if ((fresh.length === 0) !== (rows.length === 0)) { // empty ↔ rows: the table's shape changes
        rows = fresh;
        drawTable(total);
        drawBulk();
        return;
      }
      const before = new Map(rows.map((c) => [c.id, JSON.stringify(c)]));
      const shown = new Map([...drawn.tbody.querySelectorAll(':scope > tr[data-id]')].map((tr) => [tr.dataset.id, tr]));
      const active = document.activeElement;
      let refocus = null;
      const want = fresh.map((c) => {
        const tr = shown.get(c.id);
        if (tr && before.get(c.id) === JSON.stringify(c)) return tr;
        const nt = drawRow(c);
        if (tr && active && tr.contains(active)) {
          const controls = [...tr.querySelectorAll('a, button, input, select')];
          refocus = [...nt.querySelectorAll('a, button, input, select')][controls.indexOf(active)] || null;
        }
        return nt;
      });
      rows = fresh;
      const keep = new Set(want);
      for (const tr of shown.values()) if (!keep.has(tr)) tr.remove();
      want.forEach((tr, i) => {
        const at = drawn.tbody.children[i];
        if (at !== tr) drawn.tbody.insertBefore(tr, at || null);
      });
      if (refocus) refocus.focus({ preventScroll: true });
      if (drawn.all) drawn.all.checked = rows.length > 0 && rows.every((c) => selected.has(c.id));
      if (total !== drawn.total) {
        const hadFocus = drawn.pagerEl.contains(document.activeElement);
        const index = [...drawn.pagerEl.querySelectorAll('button')].indexOf(document.activeElement);
        const p = drawPager(total);
        drawn.pagerEl.replaceWith(p);
        drawn.pagerEl = p;
        drawn.total = total;
        if (hadFocus) { const b = p.querySelectorAll('button')[index]; if (b && !b.disabled) b.focus({ preventScroll: true }); }
      }
    }

    // drawRow draws one record's row of the table shown.
    function drawRow(c) {
      const tr = tableRow(drawn.columns, c, drawn.opts);
      for (const td of tr.querySelectorAll('td.check')) td.setAttribute('data-label', 'Select');
      return tr;
    }

    function drawPager(total) {
      return pager({ page: state.page, perPage: PER_PAGE, total }, (p) => {
        state.page = p;
        writeURL();
        load().then(() => results.querySelector('table').scrollIntoView({ block: 'start', behavior: 'instant' }));
      });
    }

    function drawTable(total) {
      const sortKey = state.sort.replace(/^-/, '');
      const columns = [];
      let all = null;
      if (can('write')) {
        all = h('input', { type: 'checkbox', 'aria-label': 'Select every certificate on this page', 'data-action': 'select-page',
          checked: rows.length > 0 && rows.every((c) => selected.has(c.id)) });
        all.addEventListener('change', () => {
          for (const c of rows) if (all.checked) selected.add(c.id); else selected.delete(c.id);
          for (const box of results.querySelectorAll('input[data-select]')) box.checked = all.checked;
          drawBulk();
        });
        columns.push({ label: all, class: 'check', cell: (c) => {
          const box = h('input', { type: 'checkbox', 'data-select': c.id, 'aria-label': `Select ${c.name || c.id}`, checked: selected.has(c.id) });
          box.addEventListener('change', () => {
            if (box.checked) selected.add(c.id); else selected.delete(c.id);
            all.checked = rows.every((x) => selected.has(x.id));
            drawBulk();
          });
          return box;
        } });
      }
      columns.push(
        { label: 'Name', sort: 'name', cell: (c) => h('a', { href: ctx.href(`/certificates/${encodeURIComponent(c.id)}`) }, c.name || c.id) },
        { label: 'Common name', sort: 'common_name', cell: (c) => h('span', { class: 'mono' }, c.common_name) },
        { label: 'Status', sort: 'status', cell: (c) => badge(c.status) },
        { label: 'Environment', sort: 'environment', cell: (c) => c.environment || '—' },
        { label: 'Owner', cell: (c) => refName(r.owners, c.owner_id) },
        { label: 'Team', cell: (c) => refName(r.teams, c.team_id) },
        { label: 'Issuer', cell: (c) => refName(r.issuers, c.issuer_id) },
        { label: 'Expires', sort: 'expires_at', class: 'nowrap', cell: (c) => fmtDate(c.expires_at) || '—' },
        { label: 'Days left', class: 'num', cell: (c) => daysCell(c.expires_at) },
      );
      // A header label that is a node (the select-all box) is fine for table();
      // its data-label for phone cards must be text.
      const opts = {
        sort: sortKey ? { key: sortKey, desc: state.sort.startsWith('-') } : null,
        onSort,
        empty: Object.keys(state.filters).length ? 'No certificate matches these filters.' : 'No certificates yet.',
        rowAttrs: (c) => ({ 'data-id': c.id, 'data-status': c.status }),
      };
      const t = table(columns, rows, opts);
      t.querySelector('table').setAttribute('data-testid', 'certificates-table');
      t.querySelector('table').setAttribute('aria-describedby', 'list-summary');
      for (const td of t.querySelectorAll('td.check')) td.setAttribute('data-label', 'Select');
      const pagerEl = drawPager(total);
      mount(results, t, pagerEl);
      drawn = { columns, opts, all, tbody: t.querySelector('tbody'), pagerEl, total };
    }

    function drawBulk() {
      if (!can('write') || selected.size === 0) { mount(bulkBox); return; }
      mount(bulkBox, h('div', { class: 'bulk-bar', role: 'region', 'aria-label': 'Bulk actions' },
        h('span', { 'data-testid': 'selected-count' }, `${fmtNumber(selected.size)} selected`),
        h('button', { type: 'button', class: 'btn btn-primary btn-small', 'data-action': 'bulk-renew', onclick: bulkRenew }, 'Renew'),
        can('admin') ? h('button', { type: 'button', class: 'btn btn-danger btn-small', 'data-action': 'bulk-revoke', onclick: bulkRevoke }, 'Revoke…') : null,
        h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'clear-selection', onclick: () => { selected.clear(); for (const b of results.querySelectorAll('input[type=checkbox]')) b.checked = false; drawBulk(); } }, 'Clear selection')));
    }

    function showBulk(kind, res, done) {
      const errs = (res && res.errors) || [];
      const line = kind === 'renew'
        ? `Renewal: ${res.total_matched} matched, ${res.total_enqueued} renewal job${res.total_enqueued === 1 ? '' : 's'} started, ${res.total_skipped} skipped (a renewal already open, or refused), ${res.total_failed} failed.`
        : `Revocation: ${res.total_matched} matched, ${res.total_revoked} revoked, ${res.total_skipped} skipped, ${res.total_failed} failed.`;
      mount(bulkResult, h('div', { class: `alert ${res.total_failed ? 'alert-warn' : 'alert-info'}`, role: 'status', 'data-testid': 'bulk-result' },
        h('p', null, line, ' ', h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'dismiss', onclick: () => mount(bulkResult) }, 'Dismiss')),
        errs.length ? h('ul', null, errs.slice(0, 20).map((e) => h('li', null, h('a', { href: ctx.href(`/certificates/${encodeURIComponent(e.certificate_id)}`) }, e.certificate_id), ': ', e.error))) : null,
        errs.length > 20 ? h('p', null, `and ${errs.length - 20} more.`) : null));
      toast(line, res.total_failed ? 'bad' : 'ok');
      done();
    }

    // bulk runs a bulk action with the live refresh held until it ends.
    async function bulk(action) {
      busy = true;
      try { await action(); } finally { busy = false; }
    }

    function bulkRenew() { return bulk(doBulkRenew); }
    function bulkRevoke() { return bulk(doBulkRevoke); }

    async function doBulkRenew() {
      const ids = [...selected];
      const ok = await confirmAction({ title: `Renew ${ids.length} certificate${ids.length === 1 ? '' : 's'}?`, message: 'A renewal job is started for each (or the open one kept). Revoked and archived certificates are skipped.', confirm: 'Renew' });
      if (!ok) return;
      try {
        const res = await api.post('/api/v1/certificates/bulk-renew', { certificate_ids: ids });
        showBulk('renew', res, () => { selected.clear(); load(); });
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return;
        mount(bulkResult, missingRoute(err) ? h('div', { class: 'alert alert-warn', role: 'alert' }, 'This node does not offer bulk renew yet (its API is older than the dashboard).') : errorBox(err));
        toast(`Bulk renew failed: ${err.message}`, 'bad');
      }
    }

    async function doBulkRevoke() {
      const ids = [...selected];
      const ok = await confirmAction({ title: `Revoke ${ids.length} certificate${ids.length === 1 ? '' : 's'}?`, message: 'Revocation cannot be undone: each certificate goes on its issuer\'s CRL and its open jobs are cancelled.', confirm: 'Revoke', danger: true, reasons: revocationReasons });
      if (!ok) return;
      try {
        const res = await api.post('/api/v1/certificates/bulk-revoke', { certificate_ids: ids, reason: ok.reason });
        showBulk('revoke', res, () => { selected.clear(); load(); });
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return;
        mount(bulkResult, missingRoute(err) ? h('div', { class: 'alert alert-warn', role: 'alert' }, 'This node does not offer bulk revoke yet (its API is older than the dashboard).') : errorBox(err));
        toast(`Bulk revoke failed: ${err.message}`, 'bad');
      }
    }

    drawBounds();
    await load();
    ctx.every(REFRESH_MS, refresh);
  },
};
