// Targets: where agents deploy certificates (NGINX, Apache, HAProxy, F5, IIS, files).
import { h } from '../lib/dom.js';
import { crudView, enabledBadge, link, loadAll, valueText } from '../lib/resource.js';

const types = ['NGINX', 'Apache', 'HAProxy', 'F5', 'IIS', 'Files'];

export default crudView({
  name: 'targets',
  title: 'Targets',
  singular: 'target',
  path: '/api/v1/targets',
  intro: 'Secrets in a configuration are shown as ******** and kept when saved unchanged.',
  lookups: async (ctx) => {
    const agents = await loadAll('/api/v1/agents', {}, { signal: ctx.signal });
    return { agents, agentName: Object.fromEntries(agents.map((a) => [a.id, a.name || a.id])) };
  },
  columns: (lk) => [
    { label: 'Name', cell: (r) => h('strong', null, r.name) },
    { label: 'ID', cell: (r) => h('code', { class: 'id' }, r.id) },
    { label: 'Type', cell: (r) => r.type },
    { label: 'Agent', cell: (r) => link('/agents', r.agent_id, lk.agentName[r.agent_id]) },
    { label: 'Status', cell: (r) => enabledBadge(r.enabled) },
    { label: 'Configuration', cell: (r) => h('span', { class: 'config-text' }, valueText(r.config)) },
    { label: 'Certificates', cell: (r) => h('a', { href: `#/certificates?target_id=${encodeURIComponent(r.id)}` }, 'View') },
  ],
  fields: [
    { name: 'name', label: 'Name', required: true },
    { name: 'type', label: 'Type', type: 'select', required: true, options: types },
    { name: 'agent_id', label: 'Agent', type: 'select', required: true, options: (lk) => lk.agents.map((a) => ({ value: a.id, label: `${a.name || a.id} (${a.hostname || a.id})` })) },
    { name: 'enabled', label: 'Enabled', type: 'checkbox', default: true },
    { name: 'config', label: 'Configuration (JSON)', type: 'json', hint: 'e.g. NGINX: {"cert_path": "/etc/nginx/ssl/cert.pem", "key_path": "/etc/nginx/ssl/key.pem", "reload_command": "systemctl reload nginx"}.' },
  ],
  body: (v, rec) => ({ ...(rec ? { id: rec.id } : {}), name: v.name, type: v.type, agent_id: v.agent_id, enabled: v.enabled, config: v.config }),
  deleteMessage: (r) => `Target ${r.name} is deleted; certificates mapped to it are no longer deployed there.`,
});
