// The dashboard: signs in, draws the navigation for the key's role, and
// renders the view the location's hash names. Views are modules of views/
// exporting {title, render(main, ctx)}, imported when their route is first
// shown; see views/index.js for the routes.
import { h, href, mount } from './lib/dom.js';
import { api, can, session, setUnauthorizedHandler, ApiError } from './lib/api.js';
import { errorBox } from './lib/ui.js';
import { routes } from './views/index.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const sessionBox = document.getElementById('session');

// parseHash splits "#/certificates/mc-x?tab=jobs" into path and query.
function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?', 2);
  return { path: path || '/', query: new URLSearchParams(qs || '') };
}

// match finds the route of path and its parameters.
function match(path) {
  const parts = path.split('/').filter(Boolean);
  for (const r of routes) {
    const want = r.path.split('/').filter(Boolean);
    if (want.length !== parts.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < want.length && ok; i++) {
      if (want[i].startsWith(':')) params[want[i].slice(1)] = decodeURIComponent(parts[i]);
      else ok = want[i] === parts[i];
    }
    if (ok) return { route: r, params };
  }
  return null;
}

// home is where a role lands: the overview, or the audit trail for an auditor.
function home() { return can('read') ? '/' : '/audit'; }

let current = null; // {controller, timers}

function leave() {
  if (!current) return;
  current.controller.abort();
  for (const t of current.timers) clearInterval(t);
  current = null;
}

// ctx is what a view gets: its parameters, the query, and ways to stay live
// and to move. Timers and requests end when the view is left.
function makeContext(route, params, query) {
  const controller = new AbortController();
  const timers = [];
  current = { controller, timers };
  return {
    params,
    query,
    signal: controller.signal,
    // every runs fn each ms milliseconds while the view is shown and the tab
    // visible; errors are shown once in the view's live-error slot.
    every(ms, fn) {
      const tick = async () => {
        if (document.hidden || controller.signal.aborted) return;
        try { await fn(); } catch (err) { if (!(err instanceof ApiError && err.status === 401)) console.warn('refresh failed', err); }
      };
      timers.push(setInterval(tick, ms));
    },
    // navigate moves to path with query (an object).
    navigate(path, queryObj) { location.hash = href(path, queryObj); },
    // replaceQuery changes the query of the current view without a history entry
    // and without re-rendering (for filters and paging the view applies itself).
    replaceQuery(queryObj) {
      history.replaceState(null, '', href(parseHash().path, queryObj));
    },
    href,
    // signedIn is called by the login view once it has stored a key.
    signedIn: afterLogin,
  };
}

async function render() {
  leave();
  const { path, query } = parseHash();
  const m = match(path);
  if (!m) {
    mount(main, h('h1', null, 'Not found'), h('p', null, 'No page at ', h('code', null, path), '. ', h('a', { href: '#/' }, 'Go to the overview')));
    return;
  }
  const { route, params } = m;
  if (route.access !== 'public') {
    if (!session.who) {
      const ok = await signIn();
      if (!ok) return;
    }
    if (!can(route.access)) {
      if (path === '/' && !can('read')) { location.hash = href(home()); return; }
      mount(main, h('h1', null, 'Not allowed'), h('p', null, `Your key's role (${session.who.role}) does not allow this page.`));
      return;
    }
  }
  drawNav(path);
  const ctx = makeContext(route, params, query);
  document.title = `${route.nav || 'certctl'} · certctl`;
  mount(main, h('p', { class: 'loading' }, 'Loading…'));
  let view = null;
  try {
    view = (await route.load()).default;
    if (ctx.signal.aborted) return; // left while its module loaded
    document.title = `${view.title || route.nav || 'certctl'} · certctl`;
    await view.render(main, ctx);
  } catch (err) {
    if (ctx.signal.aborted || (err instanceof ApiError && err.status === 401)) return;
    console.warn(err);
    mount(main, h('h1', null, (view && view.title) || route.nav || 'Error'), errorBox(err));
  }
  if (document.activeElement === document.body) main.focus({ preventScroll: true });
}

// signIn finds out who the stored key is; with none (and a server that needs
// one) it goes to the login page. Answers whether the view may go on.
async function signIn() {
  try {
    const info = await api.get('/api/v1/auth/info');
    session.authRequired = Boolean(info && info.required);
  } catch { /* the check below tells */ }
  if (session.authRequired && !session.key()) {
    toLogin('');
    return false;
  }
  try {
    session.who = await api.get('/api/v1/auth/check');
    return true;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) mount(main, h('h1', null, 'certctl'), errorBox(err));
    return false;
  }
}

function toLogin(message) {
  leave();
  session.clear();
  session.who = null;
  const back = parseHash();
  const next = back.path === '/login' ? '' : back.path + (back.query.toString() ? `?${back.query}` : '');
  location.hash = href('/login', { message, next });
}

function drawNav(path) {
  const items = routes.filter((r) => r.nav && can(r.access));
  const link = (r) => {
    const active = r.path === '/' ? path === '/' : path === r.path || path.startsWith(`${r.path}/`);
    return h('li', null, h('a', { href: `#${r.path}`, 'aria-current': active ? 'page' : null }, r.nav));
  };
  mount(nav,
    h('ul', { class: 'nav-main' }, items.filter((r) => !r.group).map(link)),
    h('ul', { class: 'nav-more' }, items.filter((r) => r.group === 'more').map(link)));
  const who = session.who;
  mount(sessionBox, who ? [
    h('span', { class: 'who', title: `role ${who.role}` }, who.name || 'dev', ' · ', h('span', { class: 'role' }, who.role)),
    session.authRequired ? h('button', { type: 'button', class: 'btn btn-small', onclick: signOut }, 'Sign out') : null,
  ] : []);
}

function signOut() {
  session.clear();
  session.who = null;
  mount(nav);
  mount(sessionBox);
  location.hash = href('/login', { message: 'Signed out.' });
}

setUnauthorizedHandler((message) => toLogin(message));

document.querySelector('.nav-toggle').addEventListener('click', (ev) => {
  const open = ev.currentTarget.getAttribute('aria-expanded') !== 'true';
  ev.currentTarget.setAttribute('aria-expanded', String(open));
  nav.classList.toggle('open', open);
});
nav.addEventListener('click', (ev) => {
  if (ev.target.closest('a')) {
    nav.classList.remove('open');
    document.querySelector('.nav-toggle').setAttribute('aria-expanded', 'false');
  }
});

async function afterLogin(next) {
  session.who = null;
  if (await signIn()) location.hash = `#${next || home()}`;
}

window.addEventListener('hashchange', render);
render();
