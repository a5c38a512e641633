// API keys (admins): the keys with their role and prefix (never a secret),
// create (the secret shown once, with a copy button) and revoke.
import { h, mount, fmtTime } from '../lib/dom.js';
import { api, ApiError } from '../lib/api.js';
import { table, toast, confirmAction, showFieldErrors, field, section, pageHeader, errorBox } from '../lib/ui.js';
import { loadAll, slot, link, toneBadge } from '../lib/resource.js';

const roles = [
  { value: 'viewer', label: 'viewer: reads everything, changes nothing' },
  { value: 'operator', label: 'operator: reads and changes certificates and configuration' },
  { value: 'admin', label: 'admin: everything, keys and the cluster too' },
  { value: 'auditor', label: 'auditor: the audit trail only' },
  { value: 'agent', label: 'agent: one agent\'s own endpoints' },
];

export default {
  title: 'API keys',
  async render(main, ctx) {
    const list = slot(h('p', { class: 'loading' }, 'Loading…'));
    const formSlot = slot(h('div'));
    const secretSlot = slot(h('div'));

    const load = async () => {
      const keys = await loadAll('/api/v1/auth/keys', {}, { signal: ctx.signal });
      keys.sort((a, b) => Boolean(a.revoked_at) - Boolean(b.revoked_at) || String(b.created_at).localeCompare(String(a.created_at)));
      const t = table([
        { label: 'Name', cell: (k) => h('strong', null, k.name || '—') },
        { label: 'ID', cell: (k) => h('code', { class: 'id' }, k.id) },
        { label: 'Role', cell: (k) => k.role },
        { label: 'Prefix', cell: (k) => h('code', null, `${k.prefix}…`) },
        { label: 'Agent', cell: (k) => (k.agent_id ? link('/agents', k.agent_id) : '—') },
        { label: 'Created', cell: (k) => fmtTime(k.created_at) },
        { label: 'Status', cell: (k) => (k.revoked_at ? toneBadge(`Revoked ${fmtTime(k.revoked_at)}`, 'muted') : toneBadge('Active', 'ok')) },
        { label: 'Actions', cell: (k) => (k.revoked_at ? '—' : h('button', {
          type: 'button', class: 'btn btn-small btn-danger', 'data-action': 'revoke',
          onclick: async () => {
            const ok = await confirmAction({ title: `Revoke key ${k.name || k.id}?`, message: 'Every request with it is refused from now on, including a dashboard session using it. This cannot be undone.', confirm: 'Revoke key', danger: true });
            if (!ok) return;
            try {
              await api.del(`/api/v1/auth/keys/${encodeURIComponent(k.id)}`);
              toast(`Key ${k.name || k.id} revoked.`);
              await load();
            } catch (err) { toast(err.message, 'bad'); }
          },
        }, 'Revoke')) },
      ], keys, { caption: `${keys.filter((k) => !k.revoked_at).length} active, ${keys.filter((k) => k.revoked_at).length} revoked`, empty: 'No API keys. A --dev node needs none.', rowAttrs: (k) => ({ 'data-id': k.id }) });
      t.querySelector('table').setAttribute('data-testid', 'keys-table');
      list.set(t);
    };

    const showSecret = (created) => {
      const out = h('input', { id: 'new-key-secret', type: 'text', readonly: true, class: 'mono secret', value: created.api_key, size: 48, 'aria-describedby': 'new-key-hint' });
      const copy = async () => {
        out.select();
        try {
          await navigator.clipboard.writeText(created.api_key);
          toast('Copied.');
        } catch {
          toast('Select the key and copy it (the browser did not allow copying).', 'info');
        }
      };
      secretSlot.set(h('div', { class: 'alert alert-warn', role: 'alert', 'data-testid': 'new-key' },
        h('h2', null, `Key ${created.name || created.id} created`),
        h('p', { id: 'new-key-hint' }, 'This is the only time its secret is shown. Copy it now and keep it safe; it cannot be shown again.'),
        field('Secret', out),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'copy', onclick: copy }, 'Copy'),
          h('button', { type: 'button', class: 'btn', 'data-action': 'dismiss', onclick: () => secretSlot.set(h('div')) }, 'I have copied it'))));
      out.focus();
      out.select();
    };

    const openForm = () => {
      const role = h('select', { name: 'role', id: 'key-role', required: true }, h('option', { value: '' }, 'Choose…'), roles.map((r) => h('option', { value: r.value }, r.label)));
      const agent = h('input', { name: 'agent_id', id: 'key-agent', type: 'text', autocomplete: 'off' });
      const agentRow = field('Agent id', agent, 'Only for the agent role: the agent this key acts as.');
      agentRow.hidden = true;
      role.addEventListener('change', () => { agentRow.hidden = role.value !== 'agent'; });
      const form = h('form', { novalidate: true, 'data-testid': 'keys-form' },
        field('Name (required)', h('input', { name: 'name', id: 'key-name', type: 'text', required: true, autocomplete: 'off' })),
        field('Role (required)', role),
        agentRow,
        h('div', { class: 'form-error', 'aria-live': 'assertive' }),
        h('div', { class: 'actions' },
          h('button', { type: 'submit', class: 'btn btn-primary', 'data-action': 'save' }, 'Create key'),
          h('button', { type: 'button', class: 'btn', 'data-action': 'cancel-form', onclick: () => formSlot.set(h('div')) }, 'Cancel')));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const body = { name: form.elements.name.value.trim(), role: role.value, agent_id: role.value === 'agent' ? agent.value.trim() : '' };
        try {
          const created = await api.post('/api/v1/auth/keys', body);
          formSlot.set(h('div'));
          showSecret(created);
          await load();
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 401)) showFieldErrors(form, err);
        }
      });
      formSlot.set(section('New API key', form));
      form.elements.name.focus();
    };

    mount(main, h('div', { 'data-view': 'keys' },
      pageHeader('API keys', h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'create', onclick: openForm }, 'New key')),
      h('p', { class: 'intro' }, 'Keys are listed by name, role and prefix; their secrets are never stored in the clear nor shown after creation.'),
      secretSlot.node, formSlot.node, list.node));
    try { await load(); } catch (err) { if (!ctx.signal.aborted) list.set(errorBox(err)); }
  },
};
