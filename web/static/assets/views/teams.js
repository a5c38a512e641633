// Teams: the groups that own certificates; write roles create, edit and delete them.
import { h, fmtDate } from '../lib/dom.js';
import { crudView, dash, loadAll } from '../lib/resource.js';

export default crudView({
  name: 'teams',
  title: 'Teams',
  singular: 'team',
  path: '/api/v1/teams',
  lookups: async (ctx) => {
    const owners = await loadAll('/api/v1/owners', {}, { signal: ctx.signal });
    const members = {};
    for (const o of owners) (members[o.team_id] = members[o.team_id] || []).push(o);
    return { members };
  },
  columns: (lk) => [
    { label: 'Name', cell: (r) => h('strong', null, r.name) },
    { label: 'ID', cell: (r) => h('code', { class: 'id' }, r.id) },
    { label: 'Description', cell: (r) => dash(r.description) },
    { label: 'Owners', cell: (r) => {
      const m = (lk.members && lk.members[r.id]) || [];
      return m.length ? m.map((o) => o.name).join(', ') : '—';
    } },
    { label: 'Certificates', cell: (r) => h('a', { href: `#/certificates?team_id=${encodeURIComponent(r.id)}` }, 'View') },
    { label: 'Updated', cell: (r) => fmtDate(r.updated_at) },
  ],
  fields: [
    { name: 'name', label: 'Name', required: true },
    { name: 'description', label: 'Description', type: 'textarea' },
  ],
  body: (v, rec) => ({ ...(rec ? { id: rec.id } : {}), name: v.name, description: v.description }),
  deleteMessage: (r) => `Team ${r.name} is deleted. Owners and certificates that name it keep the id.`,
});
