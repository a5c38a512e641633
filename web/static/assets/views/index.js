// The dashboard's routes: one entry per view, in the navigation's order.
// path is matched against the hash (#/certificates/mc-x → params.id);
// load imports the view's module (views/<name>.js, default {title, render})
// when its route is first shown, so a first visit fetches the modules of
// one view, not of all (the browser keeps each module once loaded);
// access is what the signed-in role needs (lib/api.js can()); nav is the
// label in the navigation (none for detail pages); group "more" puts it in
// the second row.
export const routes = [
  { path: '/', load: () => import('./overview.js'), nav: 'Overview', access: 'read' },
  { path: '/certificates', load: () => import('./certificates.js'), nav: 'Certificates', access: 'read' },
  { path: '/certificates/new', load: () => import('./certificate-form.js'), access: 'write' },
  { path: '/certificates/:id/edit', load: () => import('./certificate-form.js'), access: 'write' },
  { path: '/certificates/:id', load: () => import('./certificate.js'), access: 'read' },
  { path: '/agents', load: () => import('./agents.js'), nav: 'Agents', access: 'read' },
  { path: '/agents/:id', load: () => import('./agent.js'), access: 'read' },
  { path: '/jobs', load: () => import('./jobs.js'), nav: 'Jobs', access: 'read' },
  { path: '/jobs/:id', load: () => import('./job.js'), access: 'read' },
  { path: '/audit', load: () => import('./audit.js'), nav: 'Audit', access: 'audit' },
  { path: '/cluster', load: () => import('./cluster.js'), nav: 'Cluster', access: 'admin' },
  { path: '/issuers', load: () => import('./issuers.js'), nav: 'Issuers', access: 'read', group: 'more' },
  { path: '/targets', load: () => import('./targets.js'), nav: 'Targets', access: 'read', group: 'more' },
  { path: '/policies', load: () => import('./policies.js'), nav: 'Policies', access: 'read', group: 'more' },
  { path: '/renewal-policies', load: () => import('./renewal-policies.js'), nav: 'Renewal policies', access: 'read', group: 'more' },
  { path: '/owners', load: () => import('./owners.js'), nav: 'Owners', access: 'read', group: 'more' },
  { path: '/teams', load: () => import('./teams.js'), nav: 'Teams', access: 'read', group: 'more' },
  { path: '/notifications', load: () => import('./notifications.js'), nav: 'Notifications', access: 'read', group: 'more' },
  { path: '/keys', load: () => import('./keys.js'), nav: 'API keys', access: 'admin', group: 'more' },
  { path: '/login', load: () => import('./login.js'), access: 'public' },
];
