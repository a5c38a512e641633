// Placeholder until this view is built.
import { h, mount } from '../lib/dom.js';

export default {
  title: 'Certificates',
  async render(main) {
    mount(main, h('h1', null, 'Certificates'), h('p', null, 'This view is not built yet.'));
  },
};
