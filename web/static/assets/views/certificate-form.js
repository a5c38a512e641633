// Create a certificate (#/certificates/new) or edit one
// (#/certificates/:id/edit). The inputs are named as the API's JSON fields,
// so a 400 naming a field is shown next to that input. PUT replaces the
// certificate's settable fields: the form sends them all (the server keeps
// the status, dates and history).
import { h, mount } from '../lib/dom.js';
import { api, ApiError } from '../lib/api.js';
import { field, showFieldErrors, toast } from '../lib/ui.js';
import { refs, keyTypes } from './cert-common.js';

const enc = encodeURIComponent;

export default {
  title: 'Certificate',
  async render(main, ctx) {
    const { signal } = ctx;
    const editing = Boolean(ctx.params.id);
    const id = ctx.params.id || '';
    const [cert, r] = await Promise.all([
      editing ? api.get(`/api/v1/certificates/${enc(id)}`, null, { signal }) : null,
      refs(signal, ['owners', 'teams', 'issuers', 'policies', 'targets']),
    ]);
    const c = cert || { sans: [], tags: {}, target_ids: [], key_generation: 'agent' };
    const heading = editing ? `Edit ${c.name || c.id}` : 'New certificate';
    document.title = `${heading} · certctl`;

    const sorted = (map) => [...map.values()].sort((a, b) => String(a.name).localeCompare(String(b.name)));
    const refSelect = (name, map, value, { none, label } = {}) => {
      const items = sorted(map);
      const el = h('select', { name },
        h('option', { value: '' }, none || 'Choose…'),
        items.map((x) => h('option', { value: x.id, selected: x.id === value }, label ? label(x) : x.name || x.id)));
      if (value && !map.has(value)) el.append(h('option', { value, selected: true }, value));
      return el;
    };

    const inputs = {
      id: editing ? null : h('input', { name: 'id', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'mc-…' }),
      name: h('input', { name: 'name', type: 'text', value: c.name || '', autocomplete: 'off' }),
      common_name: h('input', { name: 'common_name', type: 'text', value: c.common_name || '', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-required': 'true' }),
      sans: h('textarea', { name: 'sans', rows: 3, spellcheck: 'false' }),
      environment: h('input', { name: 'environment', type: 'text', value: c.environment || '', list: 'env-options', autocomplete: 'off' }),
      owner_id: refSelect('owner_id', r.owners, c.owner_id, { label: (o) => `${o.name}${o.email ? ` <${o.email}>` : ''}` }),
      team_id: refSelect('team_id', r.teams, c.team_id),
      issuer_id: refSelect('issuer_id', r.issuers, c.issuer_id, { label: (i) => `${i.name} (${i.type}${i.enabled === false ? ', disabled' : ''})` }),
      renewal_policy_id: refSelect('renewal_policy_id', r.policies, c.renewal_policy_id, { none: 'None (the default)', label: (p) => `${p.name} (${p.renewal_window_days} d before expiry)` }),
      key_type: h('select', { name: 'key_type' },
        h('option', { value: '' }, 'Default (ECDSA-P256)'),
        keyTypes.map((k) => h('option', { value: k, selected: c.key_type === k }, k))),
      key_generation: h('select', { name: 'key_generation' },
        h('option', { value: 'agent', selected: c.key_generation !== 'server' }, 'On the agent\'s host (the key never leaves it)'),
        h('option', { value: 'server', selected: c.key_generation === 'server' }, 'On the server (sealed, fetched by the agent)')),
      tags: h('textarea', { name: 'tags', rows: 3, spellcheck: 'false', placeholder: 'service=api' }),
    };
    inputs.sans.value = (c.sans || []).join('\n');
    inputs.tags.value = Object.entries(c.tags || {}).map(([k, v]) => `${k}=${v}`).join('\n');
    for (const k of ['owner_id', 'team_id', 'issuer_id']) {
      inputs[k].required = true;
      inputs[k].setAttribute('aria-required', 'true');
    }
    // An owner belongs to a team: choosing one fills the team if none is chosen.
    inputs.owner_id.addEventListener('change', () => {
      const o = r.owners.get(inputs.owner_id.value);
      if (o && o.team_id && !inputs.team_id.value) inputs.team_id.value = o.team_id;
    });

    const targets = sorted(r.targets);
    const chosen = new Set(c.target_ids || []);
    const targetBoxes = h('fieldset', { class: 'field' },
      h('legend', null, 'Deploy to targets'),
      h('div', { class: 'checks' },
        targets.length ? targets.map((t) => h('label', null,
          h('input', { type: 'checkbox', name: 'target_ids', value: t.id, checked: chosen.has(t.id) }),
          `${t.name} (${t.type})`)) : h('span', { class: 'muted' }, 'No targets yet.'),
        [...chosen].filter((t) => !r.targets.has(t)).map((t) => h('label', null,
          h('input', { type: 'checkbox', name: 'target_ids', value: t, checked: true }), t))));

    const status = h('div', { class: 'form-error', 'aria-live': 'assertive' });
    const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-action': 'save' }, editing ? 'Save changes' : 'Create certificate');
    const cancel = h('a', { class: 'btn', href: editing ? ctx.href(`/certificates/${enc(id)}`) : ctx.href('/certificates'), 'data-action': 'cancel' }, 'Cancel');
    const form = h('form', { class: 'card cert-form', novalidate: true, 'data-testid': 'certificate-form' },
      h('div', { class: 'form-grid' },
        h('div', null,
          inputs.id ? field('ID (optional)', inputs.id, 'Made up by the server when empty.') : null,
          field('Name', inputs.name, 'Defaults to the common name.'),
          field('Common name (required)', inputs.common_name),
          field('SANs', inputs.sans, 'One DNS name or IP address per line.'),
          field('Environment', inputs.environment),
          h('datalist', { id: 'env-options' }, ['production', 'staging', 'development', 'test'].map((v) => h('option', { value: v }))),
          field('Tags', inputs.tags, 'One key=value per line.')),
        h('div', null,
          field('Owner (required)', inputs.owner_id),
          field('Team (required)', inputs.team_id),
          field('Issuer (required)', inputs.issuer_id),
          field('Renewal policy', inputs.renewal_policy_id),
          field('Key type', inputs.key_type),
          field('Private key made', inputs.key_generation),
          targetBoxes)),
      status,
      h('div', { class: 'actions' }, save, cancel));

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      let body;
      try {
        body = readForm();
      } catch (err) {
        showFieldErrors(form, err);
        return;
      }
      save.disabled = true;
      try {
        const res = editing
          ? await api.put(`/api/v1/certificates/${enc(id)}`, body)
          : await api.post('/api/v1/certificates', body);
        toast(editing ? `Saved ${res.name || res.id}.` : `Created ${res.name || res.id}.`, 'ok');
        ctx.navigate(`/certificates/${enc(res.id)}`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) return;
        placeField(form, err);
        showFieldErrors(form, err);
      } finally {
        save.disabled = false;
      }
    });

    function readForm() {
      const lines = (v) => v.split(/[\n,]/).map((x) => x.trim()).filter(Boolean);
      const tags = {};
      for (const line of inputs.tags.value.split('\n').map((x) => x.trim()).filter(Boolean)) {
        const i = line.indexOf('=');
        if (i <= 0) throw new ApiError(400, { field: 'tags', message: `The tag line "${line}" is not key=value.` });
        tags[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      const body = {
        name: inputs.name.value.trim(),
        common_name: inputs.common_name.value.trim(),
        sans: lines(inputs.sans.value),
        environment: inputs.environment.value.trim(),
        owner_id: inputs.owner_id.value,
        team_id: inputs.team_id.value,
        issuer_id: inputs.issuer_id.value,
        renewal_policy_id: inputs.renewal_policy_id.value,
        target_ids: [...form.querySelectorAll('input[name="target_ids"]:checked')].map((b) => b.value),
        tags,
        key_type: inputs.key_type.value,
        // Empty means on the agent: an unchanged choice is sent as it was.
        key_generation: inputs.key_generation.value === 'agent' && !c.key_generation ? '' : inputs.key_generation.value,
      };
      if (inputs.id && inputs.id.value.trim()) body.id = inputs.id.value.trim();
      return body;
    }

    mount(main, h('div', { 'data-view': 'certificate-form', 'data-mode': editing ? 'edit' : 'create' },
      h('p', { class: 'crumbs' }, editing
        ? h('a', { href: ctx.href(`/certificates/${enc(id)}`) }, `‹ ${c.name || c.id}`)
        : h('a', { href: ctx.href('/certificates') }, '‹ Certificates')),
      h('h1', null, heading),
      editing && (c.status === 'Revoked' || c.status === 'Archived')
        ? h('div', { class: 'alert alert-warn' }, `This certificate is ${c.status}: the server may refuse changes.`) : null,
      form));
    (editing ? inputs.name : inputs.common_name).focus();
  },
};

// placeField maps a field the API names with an index or key ("sans[2]",
// "tags.env") to the input that holds it, so the message lands there.
function placeField(form, err) {
  if (!(err instanceof ApiError) || !err.field) return;
  if (form.querySelector(`[name="${CSS.escape(err.field)}"]`)) return;
  const base = err.field.split(/[[.]/)[0];
  if (base && form.querySelector(`[name="${CSS.escape(base)}"]`)) err.field = base;
}

