// Owners: the people responsible for certificates, each in a team.
import { h, fmtDate } from '../lib/dom.js';
import { crudView, dash, loadAll } from '../lib/resource.js';

export default crudView({
  name: 'owners',
  title: 'Owners',
  singular: 'owner',
  path: '/api/v1/owners',
  lookups: async (ctx) => {
    const teams = await loadAll('/api/v1/teams', {}, { signal: ctx.signal });
    return { teams, teamName: Object.fromEntries(teams.map((t) => [t.id, t.name])) };
  },
  columns: (lk) => [
    { label: 'Name', cell: (r) => h('strong', null, r.name) },
    { label: 'ID', cell: (r) => h('code', { class: 'id' }, r.id) },
    { label: 'E-mail', cell: (r) => (r.email ? h('a', { href: `mailto:${r.email}` }, r.email) : '—') },
    { label: 'Team', cell: (r) => dash(lk.teamName[r.team_id] || r.team_id) },
    { label: 'Certificates', cell: (r) => h('a', { href: `#/certificates?owner_id=${encodeURIComponent(r.id)}` }, 'View') },
    { label: 'Updated', cell: (r) => fmtDate(r.updated_at) },
  ],
  fields: [
    { name: 'name', label: 'Name', required: true },
    { name: 'email', label: 'E-mail', type: 'email' },
    { name: 'team_id', label: 'Team', type: 'select', options: (lk) => lk.teams.map((t) => ({ value: t.id, label: t.name })) },
  ],
  body: (v, rec) => ({ ...(rec ? { id: rec.id } : {}), name: v.name, email: v.email, team_id: v.team_id }),
  deleteMessage: (r) => `Owner ${r.name} is deleted. Certificates that name them keep the id.`,
});
