// What the certificate views share: the names of the records a certificate
// points at (owners, teams, issuers, renewal policies, targets, agents),
// fetched once and kept for a minute, and the small cells they all show.
import { h, daysLeft } from '../lib/dom.js';
import { api, ApiError } from '../lib/api.js';

const kinds = {
  owners: '/api/v1/owners',
  teams: '/api/v1/teams',
  issuers: '/api/v1/issuers',
  policies: '/api/v1/renewal-policies',
  targets: '/api/v1/targets',
  agents: '/api/v1/agents',
  rules: '/api/v1/policies',
};

const cache = new Map(); // kind -> {at, promise}
const TTL = 60000;

// fetchAll reads every record of a small collection, page by page (at most
// 20 pages of 500: references are few; a larger collection is cut there).
async function fetchAll(path, signal) {
  const out = [];
  for (let page = 1; page <= 20; page++) {
    const l = await api.get(path, { page, per_page: 500 }, { signal });
    const data = (l && l.data) || [];
    out.push(...data);
    if (data.length < 500 || out.length >= l.total) break;
  }
  return new Map(out.map((r) => [r.id, r]));
}

// refs answers {owners, teams, issuers, policies, targets, agents, rules}
// (rules: policy rules; policies: renewal policies): each a
// Map of id to record, for the kinds asked. A kind the role may not read
// (or that fails) is an empty Map: names fall back to ids.
export async function refs(signal, wanted = Object.keys(kinds)) {
  const out = {};
  await Promise.all(wanted.map(async (k) => {
    let c = cache.get(k);
    if (!c || Date.now() - c.at > TTL) {
      // A request is shared by the views asking at once; it is not tied to
      // one view's signal, so leaving that view does not poison the cache.
      c = { at: Date.now(), promise: fetchAll(kinds[k]) };
      cache.set(k, c);
      c.promise.catch(() => cache.delete(k));
    }
    try {
      out[k] = await c.promise;
    } catch (err) {
      if (signal && signal.aborted) throw err;
      if (err instanceof ApiError && err.status === 401) throw err;
      out[k] = new Map();
    }
  }));
  return out;
}

// forgetRefs drops the cached names (after a form may have changed them).
export function forgetRefs() { cache.clear(); }

// refName is a record's name from map, or its id when unknown; '—' for none.
export function refName(map, id) {
  if (!id) return '—';
  const r = map && map.get(id);
  return (r && r.name) || id;
}

// refLink is refName linking to the record's page where it has one.
export function refLink(map, id, path) {
  if (!id) return '—';
  return path ? h('a', { href: `#${path}` }, refName(map, id)) : refName(map, id);
}

// daysCell says how many days are left until expiresAt, as text with a
// tone class: "12 d", "expired 3 d ago", "—".
export function daysCell(expiresAt) {
  const d = daysLeft(expiresAt);
  if (d === null) return h('span', { class: 'muted' }, '—');
  if (d < 0) return h('span', { class: 'days days-bad' }, `expired ${-d} d ago`);
  const tone = d <= 7 ? 'bad' : d <= 30 ? 'warn' : 'ok';
  return h('span', { class: `days days-${tone}` }, `${d} d`);
}

// missingRoute reports whether err is the 404 of a route this node does not
// serve yet (an older server), as opposed to a record not found.
export function missingRoute(err) {
  return err instanceof ApiError && (err.status === 404 || err.status === 405) && /^(no route|method \w+ is not allowed)/i.test(err.message || '');
}

// The certificate statuses and key types, as the API spells them.
export const certStatuses = ['Pending', 'Active', 'Expiring', 'Expired', 'RenewalInProgress', 'Failed', 'Revoked', 'Archived'];
export const keyTypes = ['ECDSA-P256', 'ECDSA-P384', 'RSA-2048', 'RSA-3072', 'RSA-4096', 'Ed25519'];

// The overview's risks: the list's risk filter takes the same names.
export const risks = [
  { name: 'expiring_30d', label: 'Expiring ≤ 30 d' },
  { name: 'expiring_7d', label: 'Expiring ≤ 7 d' },
  { name: 'expired', label: 'Expired' },
  { name: 'renewal_overdue', label: 'Past renewal point, not renewed' },
  { name: 'renewal_failed', label: 'Renewal failed' },
  { name: 'revoked', label: 'Revoked' },
  { name: 'weak_keys', label: 'Weak keys' },
];

// sameData reports whether v is what key last held in memo, and records it:
// a live refresh redraws a part only when its data changed, so focus and
// scroll inside it stay.
export function sameData(memo, key, v) {
  const s = JSON.stringify(v);
  if (memo[key] === s) return true;
  memo[key] = s;
  return false;
}
