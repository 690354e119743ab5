import { Api, keyStore } from '../api.js';
import { BASE, type Page, type PageContext } from '../app.js';
import { h, replace } from '../dom.js';
import { errorText } from '../format.js';

/**
 * Asks for the gateway key and checks it with `GET /v1/functions` before
 * keeping it (sessionStorage). A gateway without BRISK_ADMIN_KEY accepts any
 * key, an empty one included.
 */
export function loginPage(ctx: PageContext): Page {
  const input = h('input', { type: 'password', id: 'key', name: 'key', autocomplete: 'current-password', placeholder: 'BRISK_ADMIN_KEY or an API key', autofocus: true });
  const message = h('div', { class: 'login-message', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');

  const submit = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    const key = input.value.trim();
    button.disabled = true;
    replace(message, 'Checking…');
    try {
      const res = await new Api(() => key).raw('GET', '/v1/functions');
      if (res.status === 401) {
        replace(message, h('span', { class: 'bad-text', 'data-testid': 'login-error' }, 'That key was refused by the gateway.'));
      } else if (!res.ok) {
        replace(message, h('span', { class: 'bad-text', 'data-testid': 'login-error' }, `The gateway answered ${res.status}.`));
      } else {
        keyStore.set(key);
        const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '';
        ctx.navigate((path.length > 1 ? path : '/functions') + location.search);
        return;
      }
    } catch (err) {
      replace(message, h('span', { class: 'bad-text', 'data-testid': 'login-error' }, `Cannot reach the gateway: ${errorText(err)}`));
    }
    button.disabled = false;
  };

  const el = h(
    'div',
    { class: 'login' },
    h(
      'form',
      { class: 'card login-card', onsubmit: submit },
      h('div', { class: 'brand big' }, h('span', { class: 'bolt' }, '⚡'), 'Brisk console'),
      h('label', { for: 'key' }, 'Gateway key'),
      input,
      button,
      message,
      h('p', { class: 'hint' }, 'The key stays in this tab (session storage) and is sent as Authorization: Bearer to this gateway only.'),
    ),
  );
  return { el };
}
