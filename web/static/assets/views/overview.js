// Placeholder until this view is built.
import { h, mount } from '../lib/dom.js';

export default {
  title: 'Overview',
  async render(main) {
    mount(main, h('h1', null, 'Overview'), h('p', null, 'This view is not built yet.'));
  },
};
