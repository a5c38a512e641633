// The login page: an API key, kept in this tab's session storage.
import { h, mount } from '../lib/dom.js';
import { api, session, ApiError } from '../lib/api.js';
import { errorBox } from '../lib/ui.js';

export default {
  title: 'Sign in',
  async render(main, ctx) {
    const message = ctx.query.get('message');
    const next = ctx.query.get('next') || '';
    const input = h('input', {
      id: 'api-key', name: 'api_key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true,
      'aria-describedby': 'api-key-hint',
    });
    const status = h('div', { class: 'form-error', 'aria-live': 'assertive' });
    const form = h('form', { class: 'login card', novalidate: true },
      h('h1', null, 'Sign in to certctl'),
      message ? h('div', { class: 'alert alert-info', role: 'alert' }, message) : null,
      h('div', { class: 'field' },
        h('label', { for: 'api-key' }, 'API key'),
        input,
        h('small', { id: 'api-key-hint', class: 'hint' }, 'Kept in this tab only until you close it. An admin makes keys with ', h('code', null, 'certctl key create'), '.')),
      status,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const key = input.value.trim();
      if (!key) {
        mount(status, errorBox('Enter an API key.'));
        input.focus();
        return;
      }
      session.set(key);
      try {
        await api.get('/api/v1/auth/check');
      } catch (err) {
        session.clear();
        mount(status, errorBox(err instanceof ApiError && err.status === 401 ? 'That API key was not accepted.' : err));
        input.focus();
        return;
      }
      await ctx.signedIn(next);
    });
    mount(main, form);
    input.focus();
  },
};
