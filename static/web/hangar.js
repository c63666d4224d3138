// Hangar's pages send every change to the JSON API: a form with data-api="/api/..." is sent
// with fetch, its method in data-method, the session's CSRF token in X-CSRF-Token. Fields go
// as JSON (data-body="json": checkboxes as booleans, numbers as numbers, data-scale multiplies,
// data-list splits on spaces, data-json parses the value, so a hidden "true" is a boolean) or,
// named in data-query, in the query string. data-then says what follows: "reload", "build"
// (open the build in the answer), "token" (show it once) or "window" (open the answer's location
// in a new window, opened at the click so no blocker stops it).
// An element with data-health="/api/..." shows the checks that URL answers; a page whose <main>
// has data-opener="reload" reloads the page that opened its window.
'use strict';
(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  function body(form) {
    const out = {};
    for (const el of form.elements) {
      if (!el.name || el.disabled) continue;
      if ('json' in el.dataset) {
        out[el.name] = JSON.parse(el.value);
      } else if (el.type === 'checkbox') {
        out[el.name] = el.checked;
      } else if (el.type === 'number') {
        if (el.value !== '') out[el.name] = Number(el.value) * Number(el.dataset.scale || 1);
      } else if ('list' in el.dataset) {
        const items = el.value.split(/[\s,]+/).filter(Boolean);
        if (items.length) out[el.name] = items;
      } else if (el.value !== '' || el.type === 'password') {
        out[el.name] = el.value;
      }
    }
    return out;
  }

  function showError(form, message) {
    const box = form.querySelector('.form-error') ||
      form.parentElement.querySelector('.form-error');
    if (box) {
      box.textContent = message;
      box.hidden = false;
      box.focus?.();
    } else {
      window.alert(message);
    }
  }

  async function send(form) {
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const popup = form.dataset.then === 'window'
      ? window.open('about:blank', 'hangar-window', 'popup,width=760,height=820') : null;
    let url = form.dataset.api;
    const init = {
      method: form.dataset.method || 'POST',
      headers: { 'X-CSRF-Token': csrf(), Accept: 'application/json' },
      credentials: 'same-origin',
    };
    if (form.dataset.query) {
      const q = new URLSearchParams();
      for (const name of form.dataset.query.split(' ')) q.set(name, form.elements[name].value);
      url += '?' + q;
    }
    if (form.dataset.body === 'json') {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body(form));
    }
    const buttons = form.querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const res = await fetch(url, init);
      const text = await res.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
      if (!res.ok) {
        popup?.close();
        showError(form, (json && json.message) || `${res.status} ${res.statusText}`);
        return;
      }
      const then = form.dataset.then || 'reload';
      if (then === 'build' && json && json.number) {
        const slug = document.querySelector('main').dataset.repo;
        window.location.assign(`/${slug}/${json.number}`);
      } else if (then === 'token' && json && json.token) {
        document.getElementById('token-value').textContent = json.token;
        const shown = document.getElementById('token-shown');
        shown.hidden = false;
        form.reset();
        document.getElementById('token-value').focus();
      } else if (then === 'window' && json && json.location) {
        if (popup) popup.location.assign(json.location);
        else window.location.assign(json.location);
      } else {
        window.location.reload();
      }
    } catch (e) {
      popup?.close();
      showError(form, `The server could not be reached: ${e.message}`);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  async function health(box) {
    const show = (name, check) => {
      const badge = box.querySelector(`[data-check="${name}"]`);
      const detail = box.querySelector(`[data-detail="${name}"]`);
      badge.textContent = check.ok ? 'OK' : 'failed';
      badge.className = `st ${check.ok ? 'st-success' : 'st-failure'}`;
      detail.textContent = check.detail;
    };
    try {
      const res = await fetch(box.dataset.health, {
        headers: { Accept: 'application/json' }, credentials: 'same-origin',
      });
      const json = await res.json();
      if (!res.ok) throw new Error(json.message || res.statusText);
      show('discovery', json.discovery);
      show('jwks', json.jwks);
    } catch (e) {
      show('discovery', { ok: false, detail: `the check could not run: ${e.message}` });
      show('jwks', { ok: false, detail: 'not checked' });
    }
  }

  document.querySelectorAll('[data-health]').forEach(health);
  if (document.querySelector('main[data-opener="reload"]') && window.opener) {
    try { window.opener.location.reload(); } catch (_) { /* another origin: nothing to do */ }
  }

  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.api) return;
    event.preventDefault();
    send(form);
  });
})();
