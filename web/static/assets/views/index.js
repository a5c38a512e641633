// The dashboard's routes: one entry per view, in the navigation's order.
// path is matched against the hash (#/certificates/mc-x → params.id);
// access is what the signed-in role needs (lib/api.js can()); nav is the
// label in the navigation (none for detail pages); group "more" puts it in
// the second row.
import overview from './overview.js';
import certificates from './certificates.js';
import certificate from './certificate.js';
import certificateForm from './certificate-form.js';
import agents from './agents.js';
import agent from './agent.js';
import jobs from './jobs.js';
import job from './job.js';
import audit from './audit.js';
import cluster from './cluster.js';
import issuers from './issuers.js';
import targets from './targets.js';
import policies from './policies.js';
import renewalPolicies from './renewal-policies.js';
import owners from './owners.js';
import teams from './teams.js';
import notifications from './notifications.js';
import keys from './keys.js';
import login from './login.js';

export const routes = [
  { path: '/', view: overview, nav: 'Overview', access: 'read' },
  { path: '/certificates', view: certificates, nav: 'Certificates', access: 'read' },
  { path: '/certificates/new', view: certificateForm, access: 'write' },
  { path: '/certificates/:id/edit', view: certificateForm, access: 'write' },
  { path: '/certificates/:id', view: certificate, access: 'read' },
  { path: '/agents', view: agents, nav: 'Agents', access: 'read' },
  { path: '/agents/:id', view: agent, access: 'read' },
  { path: '/jobs', view: jobs, nav: 'Jobs', access: 'read' },
  { path: '/jobs/:id', view: job, access: 'read' },
  { path: '/audit', view: audit, nav: 'Audit', access: 'audit' },
  { path: '/cluster', view: cluster, nav: 'Cluster', access: 'admin' },
  { path: '/issuers', view: issuers, nav: 'Issuers', access: 'read', group: 'more' },
  { path: '/targets', view: targets, nav: 'Targets', access: 'read', group: 'more' },
  { path: '/policies', view: policies, nav: 'Policies', access: 'read', group: 'more' },
  { path: '/renewal-policies', view: renewalPolicies, nav: 'Renewal policies', access: 'read', group: 'more' },
  { path: '/owners', view: owners, nav: 'Owners', access: 'read', group: 'more' },
  { path: '/teams', view: teams, nav: 'Teams', access: 'read', group: 'more' },
  { path: '/notifications', view: notifications, nav: 'Notifications', access: 'read', group: 'more' },
  { path: '/keys', view: keys, nav: 'API keys', access: 'admin', group: 'more' },
  { path: '/login', view: login, access: 'public' },
];
