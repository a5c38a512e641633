// Placeholder until this view is built.
import { h, mount } from '../lib/dom.js';

export default {
  title: 'Targets',
  async render(main) {
    mount(main, h('h1', null, 'Targets'), h('p', null, 'This view is not built yet.'));
  },
};
