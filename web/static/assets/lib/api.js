// The API client. The key lives in sessionStorage: it survives a reload of
// the tab, not its closing, and is never written anywhere else. Every request
// goes to this node (same origin); a 401 clears the key and returns to the
// login page with the server's message.

const KEY = 'certctl.apiKey';

export const session = {
  key() { return sessionStorage.getItem(KEY) || ''; },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
  // who is the answer of GET /api/v1/auth/check: {name, role}; set by app.js.
  who: null,
  // authRequired is false on a --dev node (no keys).
  authRequired: true,
};

// ApiError is a failed request: status, the API's code, message and field.
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || '';
    this.field = (body && body.field) || '';
    this.requestId = (body && body.request_id) || '';
    this.body = body;
  }
}

// onUnauthorized is called with the server's message when a request gets 401;
// app.js sets it to go to the login page.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// query builds "?a=1&b=2" from an object, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === null || v === undefined || v === '') continue;
    q.set(k, String(v));
  }
  const str = q.toString();
  return str ? `?${str}` : '';
}

// request sends one API call and answers its decoded JSON body (null for 204).
// path starts with /api/v1 (or another path of this node).
export async function request(method, path, { params, body, signal } = {}) {
  const headers = { Accept: 'application/json' };
  const key = session.key();
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { method, headers, signal, credentials: 'omit', cache: 'no-store', redirect: 'error' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path + query(params), init);
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text }; }
  }
  if (res.status === 401) {
    onUnauthorized((data && data.message) || 'Your API key was not accepted.');
    throw new ApiError(401, data);
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const api = {
  get: (path, params, opts) => request('GET', path, { ...opts, params }),
  post: (path, body, opts) => request('POST', path, { ...opts, body }),
  put: (path, body, opts) => request('PUT', path, { ...opts, body }),
  del: (path, opts) => request('DELETE', path, opts),
};

// Roles, as the API grants them (api/auth.go).
const grants = {
  read: ['viewer', 'operator', 'admin'],
  write: ['operator', 'admin'],
  admin: ['admin'],
  audit: ['auditor', 'viewer', 'operator', 'admin'],
};

// can reports whether the signed-in key's role may do what access names:
// read, write, admin or audit.
export function can(access) {
  const role = session.who && session.who.role;
  return Boolean(role && grants[access] && grants[access].includes(role));
}
