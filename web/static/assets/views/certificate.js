// One certificate: what it is (names, dates, serial and fingerprint of the
// version in use), where it is deployed and whether each host serves it, its
// versions, policy violations, jobs and audit trail, and the actions the
// role may take. Status, jobs, deployments and versions refresh every 3 s in
// place, so a renewal is seen going from Pending to Completed.
import { h, mount, fmtDate, fmtTime, ago } from '../lib/dom.js';
import { api, can, ApiError } from '../lib/api.js';
import { badge, table, toast, confirmAction, errorBox, pageHeader, revocationReasons } from '../lib/ui.js';
import { refs, refName, daysCell, sameData } from './cert-common.js';

const enc = encodeURIComponent;
const JOB_PAGES = 4; // at most 2,000 jobs of one certificate are read

export default {
  title: 'Certificate',
  async render(main, ctx) {
    const { signal } = ctx;
    const id = ctx.params.id;
    const base = `/api/v1/certificates/${enc(id)}`;
    let cert;
    try {
      cert = await api.get(base, null, { signal });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        mount(main, h('div', { 'data-view': 'certificate' }, h('h1', null, 'Certificate not found'),
          h('p', null, 'No certificate ', h('code', null, id), '. ', h('a', { href: ctx.href('/certificates') }, 'Back to the list'))));
        return;
      }
      throw err;
    }
    const r = await refs(signal);
    const memo = {};
    const state = { cert, versions: [], jobs: [] };

    const title = h('span', null, cert.name || cert.id);
    const statusSlot = h('span', { 'data-testid': 'certificate-status' }, badge(cert.status));
    const actions = h('div', { class: 'actions' });
    const reason = h('div');
    const facts = h('div');
    const refsBox = h('div');
    const deployments = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const versions = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const violations = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const jobs = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
    const audit = can('audit') ? h('div', null, h('p', { class: 'loading' }, 'Loading…')) : null;
    const card = (tid, heading, body, extra) => h('section', { class: 'card', 'aria-labelledby': tid },
      h('div', { class: 'section-head' }, h('h2', { id: tid }, heading), extra || null), body);

    const header = h('div', { class: 'page-header' },
      h('h1', null, title, ' ', statusSlot), actions);
    mount(main, h('div', { 'data-view': 'certificate', 'data-id': id },
      h('p', { class: 'crumbs' }, h('a', { href: ctx.href('/certificates') }, '‹ Certificates')),
      header, reason,
      h('div', { class: 'grid-2' },
        card('cert-facts', 'Certificate', facts),
        card('cert-refs', 'Ownership and policy', refsBox)),
      card('cert-deployments', 'Deployments', deployments),
      card('cert-jobs', 'Jobs', jobs, h('a', { href: ctx.href('/jobs', { certificate_id: id }) }, 'In the job list')),
      card('cert-versions', 'Versions', versions),
      card('cert-violations', 'Policy violations', violations),
      audit ? card('cert-audit', 'Audit trail', audit, h('a', { href: ctx.href('/audit', { resource_id: id }) }, 'In the audit trail')) : null));

    const latest = () => state.versions[0] || null;

    // --- the certificate itself -------------------------------------------
    const drawCert = () => {
      const c = state.cert;
      const v = latest();
      title.textContent = c.name || c.id;
      document.title = `${c.name || c.id} · certctl`;
      if (!sameData(memo, 'status', c.status)) mount(statusSlot, badge(c.status));
      if (!sameData(memo, 'reason', [c.status, c.status_reason])) {
        mount(reason, c.status_reason
          ? h('div', { class: `alert ${c.status === 'Failed' ? 'alert-bad' : 'alert-info'}`, role: 'status' }, `${c.status}: ${c.status_reason}`)
          : null);
      }
      const hour = Math.floor(Date.now() / 3600000);
      if (!sameData(memo, 'facts', [c, v, hour])) {
        const sans = c.sans && c.sans.length ? h('ul', { class: 'plain' }, c.sans.map((x) => h('li', { class: 'mono' }, x))) : '—';
        const tags = Object.entries(c.tags || {});
        const keyType = [c.key_type || 'ECDSA-P256 (default)', v && v.key_algorithm ? ` · issued: ${v.key_algorithm}` : '', (v && v.weak_key) || c.weak_key ? ' · weak' : ''].join('');
        mount(facts, h('dl', { class: 'facts' },
          fact('ID', h('span', { class: 'mono' }, c.id)),
          fact('Common name', h('span', { class: 'mono' }, c.common_name)),
          fact('SANs', sans),
          fact('Environment', c.environment || '—'),
          fact('Serial', v ? h('span', { class: 'mono', 'data-testid': 'serial' }, v.serial_number) : h('span', { class: 'muted' }, 'not issued yet')),
          fact('SHA-256', v ? h('span', { class: 'mono', 'data-testid': 'fingerprint' }, colonHex(v.fingerprint_sha256)) : '—'),
          fact('Key type', keyType),
          fact('Key made on', c.key_generation === 'server' ? 'the server' : 'the agent\'s host'),
          v && v.signature_algorithm ? fact('Signature', v.signature_algorithm) : null,
          fact('Not before', v ? fmtTime(v.not_before) : '—'),
          fact('Not after', fmtTime((v && v.not_after) || c.expires_at) || '—'),
          fact('Days left', daysCell(c.expires_at || (v && v.not_after))),
          fact('Tags', tags.length ? h('span', { class: 'tags' }, tags.map(([k, val]) => h('span', { class: 'tag' }, `${k}=${val}`))) : '—')));
        mount(refsBox, h('dl', { class: 'facts' },
          fact('Owner', refName(r.owners, c.owner_id)),
          fact('Team', refName(r.teams, c.team_id)),
          fact('Issuer', refName(r.issuers, c.issuer_id)),
          fact('Renewal policy', c.renewal_policy_id ? policyText(r.policies.get(c.renewal_policy_id), c.renewal_policy_id) : 'none (the default)'),
          fact('Targets', c.target_ids && c.target_ids.length
            ? h('ul', { class: 'plain' }, c.target_ids.map((t) => h('li', null, targetText(r.targets.get(t), t))))
            : 'none'),
          fact('Last renewal', c.last_renewal_at ? `${fmtTime(c.last_renewal_at)} (${ago(c.last_renewal_at)})` : 'never'),
          fact('Last deployment', c.last_deployment_at ? `${fmtTime(c.last_deployment_at)} (${ago(c.last_deployment_at)})` : 'never'),
          fact('Created', fmtTime(c.created_at)),
          fact('Updated', fmtTime(c.updated_at))));
      }
      drawActions();
    };

    // --- actions ----------------------------------------------------------
    const drawActions = () => {
      const c = state.cert;
      const st = c.status;
      const shown = can('write') ? [st, (c.target_ids || []).length, Boolean(latest())] : [];
      if (sameData(memo, 'actions', shown)) return;
      const live = st !== 'Revoked' && st !== 'Archived';
      const hadFocus = actions.contains(document.activeElement) && document.activeElement.dataset.action;
      mount(actions, can('write') ? [
        live ? h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'renew', onclick: renew }, 'Renew') : null,
        live && (c.target_ids || []).length && latest() ? h('button', { type: 'button', class: 'btn', 'data-action': 'deploy', onclick: () => deploy('') }, 'Deploy…') : null,
        st !== 'Archived' ? h('a', { class: 'btn', href: ctx.href(`/certificates/${enc(id)}/edit`), 'data-action': 'edit' }, 'Edit') : null,
        live ? h('button', { type: 'button', class: 'btn btn-danger', 'data-action': 'revoke', onclick: revoke }, 'Revoke…') : null,
        st !== 'Archived' ? h('button', { type: 'button', class: 'btn', 'data-action': 'archive', onclick: archive }, 'Archive') : null,
      ] : []);
      if (hadFocus) {
        const el = actions.querySelector(`[data-action="${hadFocus}"]`);
        if (el) el.focus();
      }
    };

    const act = async (what, fn) => {
      try {
        const res = await fn();
        const jobIds = (res && res.job_ids) || [];
        toast(jobIds.length ? `${what}: job ${jobIds.join(', ')}` : what, 'ok');
      } catch (err) {
        toast(`${what} failed: ${err.message}`, 'bad');
      }
      await refresh();
    };

    async function renew() {
      const ok = await confirmAction({ title: `Renew ${state.cert.name || id}?`, message: 'A renewal job issues a new version from its issuer and deploys it to the mapped targets. An open renewal is kept rather than doubled.', confirm: 'Renew' });
      if (ok) await act('Renewal requested', () => api.post(`${base}/renew`));
    }

    async function deploy(targetId) {
      const tids = state.cert.target_ids || [];
      let chosen = targetId;
      if (!chosen) {
        const ok = await confirmAction({
          title: `Deploy ${state.cert.name || id}?`,
          message: 'The version in use is sent to the target by its agent, which checks that the host then serves it.',
          confirm: 'Deploy',
          reasonLabel: 'Target',
          reasons: [{ value: '*', label: `All mapped targets (${tids.length})` }, ...tids.map((t) => ({ value: t, label: refName(r.targets, t) }))],
        });
        if (!ok) return;
        chosen = ok.reason;
      } else {
        const ok = await confirmAction({ title: `Deploy to ${refName(r.targets, chosen)}?`, message: 'The version in use is sent to this target again.', confirm: 'Deploy' });
        if (!ok) return;
      }
      await act('Deployment requested', () => api.post(`${base}/deploy`, chosen === '*' ? {} : { target_id: chosen }));
    }

    async function revoke() {
      const ok = await confirmAction({
        title: `Revoke ${state.cert.name || id}?`,
        message: 'Revocation cannot be undone: the certificate goes on its issuer\'s CRL and its open jobs are cancelled.',
        confirm: 'Revoke', danger: true, reasons: revocationReasons,
      });
      if (ok) await act('Revoked', () => api.post(`${base}/revoke`, { reason: ok.reason }));
    }

    async function archive() {
      const ok = await confirmAction({ title: `Archive ${state.cert.name || id}?`, message: 'An archived certificate is no longer renewed, deployed or counted. Its history stays.', confirm: 'Archive', danger: true });
      if (ok) await act('Archived', () => api.del(base));
    }

    // --- deployments, per target ------------------------------------------
    const drawDeployments = () => {
      const v = latest();
      const deploys = state.jobs.filter((j) => j.type === 'Deployment');
      const byTarget = new Map();
      for (const t of state.cert.target_ids || []) byTarget.set(t, null);
      for (const j of deploys) { // newest first: keep the first seen per target
        if (!j.target_id) continue;
        if (!byTarget.get(j.target_id)) byTarget.set(j.target_id, j);
      }
      const rows = [...byTarget.entries()].map(([tid, job]) => ({ id: tid, job, res: result(job) }));
      const minute = Math.floor(Date.now() / 60000);
      if (sameData(memo, 'deployments', [rows, v && v.serial_number, minute, can('write')])) return;
      const served = (row) => {
        const val = row.res && row.res.validation;
        if (!val || !val.served_serial) return '—';
        if (!v) return h('span', { class: 'mono' }, val.served_serial);
        const same = sameSerial(val.served_serial, v.serial_number);
        return h('span', null, h('span', { class: 'mono' }, val.served_serial), ' ',
          h('span', { class: same ? 'match-ok' : 'match-bad' }, same ? '(the version in use)' : '(not the version in use)'));
      };
      const t = table([
        { label: 'Target', cell: (x) => targetText(r.targets.get(x.id), x.id) },
        { label: 'Agent', cell: (x) => {
          const aid = (x.job && x.job.agent_id) || (r.targets.get(x.id) || {}).agent_id;
          return aid ? h('a', { href: ctx.href(`/agents/${enc(aid)}`) }, refName(r.agents, aid)) : '—';
        } },
        { label: 'Host', cell: (x) => (x.res && x.res.host) || (r.agents.get((x.job && x.job.agent_id) || (r.targets.get(x.id) || {}).agent_id || '') || {}).hostname || '—' },
        { label: 'Latest job', cell: (x) => x.job ? h('span', null, h('a', { href: ctx.href(`/jobs/${enc(x.job.id)}`) }, badge(x.job.status)), ' ', h('small', { class: 'muted' }, ago(x.job.completed_at || x.job.started_at || x.job.created_at))) : h('span', { class: 'muted' }, 'never deployed') },
        { label: 'Validation', cell: (x) => validationCell(x.res, x.job) },
        { label: 'Served serial', cell: served },
        { label: 'Served SHA-256', cell: (x) => {
          const val = x.res && x.res.validation;
          if (!val || !val.served_fingerprint) return '—';
          const same = v && val.served_fingerprint.toLowerCase() === String(v.fingerprint_sha256 || '').toLowerCase();
          return h('span', { class: 'mono', title: val.served_fingerprint }, `${val.served_fingerprint.slice(0, 16)}…`, v ? h('span', { class: same ? 'match-ok' : 'match-bad' }, same ? ' ✓' : ' ✗ differs') : null);
        } },
        can('write') && state.cert.status !== 'Revoked' && state.cert.status !== 'Archived' && v
          ? { label: 'Action', cell: (x) => (state.cert.target_ids || []).includes(x.id) ? h('button', { type: 'button', class: 'btn btn-small', 'data-action': 'deploy', 'data-target': x.id, onclick: () => deploy(x.id) }, 'Deploy') : '' }
          : null,
      ].filter(Boolean), rows, { empty: 'No target is mapped and nothing was deployed.', rowAttrs: (x) => ({ 'data-id': x.id, 'data-job': x.job ? x.job.id : null }) });
      t.querySelector('table').setAttribute('data-testid', 'deployments-table');
      mount(deployments, t);
    };

    // --- versions, jobs, violations, audit --------------------------------
    const drawVersions = () => {
      if (sameData(memo, 'versions', state.versions.map((v) => v.id))) return;
      const t = table([
        { label: 'Serial', cell: (v) => h('span', { class: 'mono' }, v.serial_number) },
        { label: 'Not before', class: 'nowrap', cell: (v) => fmtDate(v.not_before) },
        { label: 'Not after', class: 'nowrap', cell: (v) => fmtDate(v.not_after) },
        { label: 'SHA-256', cell: (v) => h('span', { class: 'mono', title: v.fingerprint_sha256 }, `${String(v.fingerprint_sha256 || '').slice(0, 16)}…`) },
        { label: 'Key', cell: (v) => [v.key_algorithm || '', v.weak_key ? ' (weak)' : ''].join('') || '—' },
        { label: 'Issued', cell: (v) => fmtTime(v.created_at) },
        { label: '', cell: (v) => (v === state.versions[0] ? badge('in use') : '') },
      ], state.versions, { empty: 'Not issued yet.', rowAttrs: (v) => ({ 'data-id': v.id }) });
      t.querySelector('table').setAttribute('data-testid', 'versions-table');
      mount(versions, t);
    };

    const drawJobs = () => {
      const shown = state.jobs.slice(0, 25);
      const minute = Math.floor(Date.now() / 60000);
      if (sameData(memo, 'jobs', [shown, minute])) return;
      const t = table([
        { label: 'Job', cell: (j) => h('a', { href: ctx.href(`/jobs/${enc(j.id)}`), class: 'mono' }, j.id) },
        { label: 'Type', cell: (j) => j.type },
        { label: 'Status', cell: (j) => badge(j.status) },
        { label: 'Target', cell: (j) => (j.target_id ? refName(r.targets, j.target_id) : '—') },
        { label: 'Attempts', class: 'num', cell: (j) => `${j.attempts}/${j.max_attempts}` },
        { label: 'Created', cell: (j) => h('span', { title: fmtTime(j.created_at) }, ago(j.created_at)) },
        { label: 'Last error', cell: (j) => j.last_error || '' },
      ], shown, { empty: 'No jobs.', rowAttrs: (j) => ({ 'data-id': j.id, 'data-status': j.status, 'data-type': j.type }) });
      t.querySelector('table').setAttribute('data-testid', 'jobs-table');
      mount(jobs, t, state.jobs.length > shown.length ? h('p', { class: 'muted' }, `The ${shown.length} newest of ${state.jobs.length}.`) : null);
    };

    const loadViolations = async () => {
      let l;
      try {
        l = await api.get(`${base}/violations`, { per_page: 100 }, { signal });
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) throw err;
        mount(violations, errorBox(err));
        return;
      }
      const rows = (l.data || []).slice().sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
      if (sameData(memo, 'violations', rows)) return;
      const t = table([
        { label: 'Severity', cell: (x) => h('span', { class: `badge badge-${x.severity === 'Warning' ? 'warn' : 'bad'}` }, x.severity) },
        { label: 'Rule', cell: (x) => h('a', { href: ctx.href('/policies') }, refName(r.rules, x.rule_id)) },
        { label: 'Message', cell: (x) => x.message },
        { label: 'When', cell: (x) => fmtTime(x.created_at) },
      ], rows, { empty: 'No policy is violated.', rowAttrs: (x) => ({ 'data-id': x.id }) });
      t.querySelector('table').setAttribute('data-testid', 'violations-table');
      mount(violations, t);
    };

    const loadAudit = async () => {
      if (!audit) return;
      let events;
      try {
        events = await newestAudit(id, signal);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) throw err;
        mount(audit, errorBox(err));
        return;
      }
      if (sameData(memo, 'audit', events.map((e) => e.id))) return;
      const t = table([
        { label: 'When', class: 'nowrap', cell: (e) => fmtTime(e.timestamp) },
        { label: 'Action', cell: (e) => e.action },
        { label: 'Actor', cell: (e) => `${e.actor || '—'}${e.actor_type ? ` (${e.actor_type})` : ''}` },
        { label: 'Details', cell: (e) => detailsText(e.details) },
      ], events, { empty: 'No audit events.', rowAttrs: (e) => ({ 'data-id': e.id }) });
      t.querySelector('table').setAttribute('data-testid', 'audit-table');
      mount(audit, t);
    };

    // --- loading ----------------------------------------------------------
    const loadLive = async () => {
      const [c, vl, jl] = await Promise.all([
        api.get(base, null, { signal }),
        api.get(`${base}/versions`, { per_page: 500 }, { signal }),
        allJobs(id, signal),
      ]);
      state.cert = c;
      state.versions = (vl.data || []).slice().sort((a, b) => String(b.not_before).localeCompare(String(a.not_before)) || String(b.created_at).localeCompare(String(a.created_at)));
      state.jobs = jl;
      drawCert();
      drawDeployments();
      drawVersions();
      drawJobs();
    };

    let ticks = 0;
    const refresh = async () => {
      ticks++;
      // The audit trail and violations change less: every third tick.
      await Promise.all([loadLive(), ticks % 3 === 1 ? loadViolations() : null, ticks % 3 === 1 ? loadAudit() : null]);
    };
    await refresh();
    ctx.every(3000, refresh);
  },
};

function fact(label, value) {
  return [h('dt', null, label), h('dd', null, value)];
}

function policyText(p, id) {
  if (!p) return id;
  return `${p.name} (renews ${p.renewal_window_days} d before expiry${p.auto_renew ? ', automatically' : ', by hand'})`;
}

function targetText(t, id) {
  if (!t) return id;
  return `${t.name} (${t.type})`;
}

// colonHex shows a hex digest as AB:CD:…, as browsers and openssl do.
function colonHex(hex) {
  return String(hex || '').toUpperCase().match(/.{1,2}/g)?.join(':') || '—';
}

// sameSerial compares two hex serial numbers as numbers (case, colons and
// leading zeros aside).
function sameSerial(a, b) {
  const norm = (x) => String(x || '').toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^0+/, '');
  return norm(a) !== '' && norm(a) === norm(b);
}

// result is a Deployment job's deployment_result: the agent records
// {host, serial_number, validation: {valid, method, served_serial,
// served_fingerprint, ...}}; older records only {message, validated}.
function result(job) {
  if (!job || !job.deployment_result) return null;
  const r = job.deployment_result;
  if (typeof r === 'string') {
    try { return JSON.parse(r); } catch { return null; }
  }
  return typeof r === 'object' ? r : null;
}

function validationCell(res, job) {
  const val = res && res.validation;
  if (val) {
    return h('span', null,
      h('span', { class: `badge badge-${val.valid ? 'ok' : 'bad'}`, 'data-valid': String(Boolean(val.valid)) }, val.valid ? 'valid' : 'invalid'),
      ' ', h('small', null, [val.method, val.endpoint].filter(Boolean).join(' ')),
      val.message ? h('div', { class: 'muted' }, val.message) : null);
  }
  if (res && typeof res.validated === 'boolean') {
    return h('span', { class: `badge badge-${res.validated ? 'ok' : 'bad'}`, 'data-valid': String(res.validated) }, res.validated ? 'valid' : 'invalid');
  }
  if (job && job.status === 'Failed' && job.last_error) return h('span', { class: 'muted' }, job.last_error);
  return '—';
}

function detailsText(d) {
  if (!d || typeof d !== 'object') return d ? String(d) : '';
  const parts = Object.entries(d).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`);
  const s = parts.join(', ');
  return s.length > 240 ? `${s.slice(0, 240)}…` : s;
}

// allJobs reads a certificate's jobs (at most JOB_PAGES pages of 500),
// newest first.
async function allJobs(id, signal) {
  const out = [];
  for (let page = 1; page <= JOB_PAGES; page++) {
    const l = await api.get('/api/v1/jobs', { certificate_id: id, page, per_page: 500 }, { signal });
    out.push(...(l.data || []));
    if ((l.data || []).length < 500 || out.length >= l.total) break;
  }
  return out.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)) || String(b.scheduled_at).localeCompare(String(a.scheduled_at)));
}

// newestAudit answers the certificate's 50 newest audit events, newest first
// (the API lists them oldest first: read the last page, and the one before
// when the last is short).
async function newestAudit(id, signal) {
  const per = 50;
  const first = await api.get('/api/v1/audit', { resource_id: id, per_page: per }, { signal });
  let events = first.data || [];
  const pages = Math.ceil((first.total || 0) / per);
  if (pages > 1) {
    const last = await api.get('/api/v1/audit', { resource_id: id, per_page: per, page: pages }, { signal });
    events = last.data || [];
    if (events.length < per) {
      const prev = await api.get('/api/v1/audit', { resource_id: id, per_page: per, page: pages - 1 }, { signal });
      events = [...(prev.data || []), ...events];
    }
  }
  return events.sort((a, b) => (b.seq || 0) - (a.seq || 0) || String(b.timestamp).localeCompare(String(a.timestamp))).slice(0, per);
}

