// The identity control room: the embedded provider's administrator signs in, sees the provider
// in force and its health, enters the test OpenID provider (a wrong issuer is refused with the
// reason), cannot switch it on untested, runs a test login in a new window (signing in at the
// provider) that shows the claims, groups and role that came back, switches it on; a fresh
// browser then signs in through the new provider. Screenshots: identity-*.png.
import { check, config, run, shot } from './lib.mjs';

function watch(page) {
  page.setDefaultTimeout(20_000);
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.errors = errors;
  return page;
}

async function text(page, selector) {
  return (await page.locator(selector).first().textContent()).trim();
}

await run(async (browser, context, current) => {
  const page = watch(await context.newPage());
  current(page);

  // The embedded provider's administrator signs in (no external provider is configured).
  await page.goto(`${config.base}/admin/identity`);
  await page.waitForURL((u) => u.pathname.startsWith('/oidc/'));
  await page.fill('#username', 'admin');
  await page.fill('#password', config.adminPassword);
  await page.click('button[type=submit]');
  await page.waitForURL((u) => u.pathname === '/admin/identity');
  check(await text(page, '[data-field=origin]') === 'embedded', 'the embedded provider is in force');

  // The page sends a strict policy, and the API refuses a change without the session's CSRF token.
  const csp = (await page.reload()).headers()['content-security-policy'] ?? '';
  check(csp.includes("script-src 'self'") && !csp.includes('unsafe'), `a strict CSP: ${csp}`);
  const forged = await page.evaluate(async () => (await fetch('/api/admin/identity', { method: 'DELETE' })).status);
  check(forged === 403, `a change without the CSRF token is refused: ${forged}`);
  const redirect = await text(page, '[data-field=redirect-uri]');
  check(redirect === `${config.base}/auth/callback`, `the redirect URI to register: ${redirect}`);
  await page.waitForSelector('[data-check=discovery].st-success');
  await page.waitForSelector('[data-check=jwks].st-success');
  await shot(page, 'embedded');

  // A wrong issuer is refused with what to fix.
  await page.fill('#draft input[name=issuer]', 'http://login.example.com');
  await page.fill('#draft input[name=client_id]', config.clientId);
  await page.fill('#draft input[name=client_secret]', config.clientSecret);
  await page.click('#draft button[type=submit]');
  const refusal = page.locator('#draft .form-error');
  await refusal.waitFor({ state: 'visible' });
  check((await refusal.textContent()).includes('https://'), `the reason: ${await refusal.textContent()}`);

  // The test provider, saved as a draft.
  await page.fill('#draft input[name=issuer]', config.issuer);
  await page.fill('#draft input[name=scopes]', 'openid profile email groups offline_access');
  await page.click('#draft button[type=submit]');
  await page.waitForSelector('#test-login');
  check((await text(page, '#draft-state')).includes('not tested'), 'the draft is not tested yet');
  check(await page.inputValue('#draft input[name=client_secret]') === '', 'the secret is never shown again');

  // It cannot be switched on before a test login.
  await page.click('#enable button[type=submit]');
  const untested = page.locator('#enable .form-error');
  await untested.waitFor({ state: 'visible' });
  check((await untested.textContent()).includes('test login'), `refused: ${await untested.textContent()}`);
  await shot(page, 'draft');

  // The test login, in a new window: sign in at the provider, see what came back.
  const [popup] = await Promise.all([
    context.waitForEvent('page'),
    page.click('#test-login button[type=submit]'),
  ]);
  watch(popup);
  current(popup);
  await popup.waitForURL((u) => u.pathname.startsWith('/interaction/'));
  await popup.fill('input[name=username]', config.user);
  await popup.fill('input[name=password]', 'password');
  await popup.click('button[type=submit]');
  await popup.waitForURL((u) => u.pathname === '/admin/identity/test');
  const groups = await text(popup, '#test-result [data-field=groups]');
  const roles = await text(popup, '#test-result [data-field=roles]');
  check(groups.includes('admins'), `the groups that came back: ${groups}`);
  check(roles === 'admin', `the role they map to: ${roles}`);
  check((await text(popup, '.claims')).includes(`"preferred_username": "${config.user}"`), 'the claims are shown');
  await shot(popup, 'test-result');
  await popup.close();
  current(page);

  // The page that opened the window shows the result too; switch the provider on.
  await page.reload();
  check((await text(page, '#test-result [data-field=roles]')) === 'admin', 'the result on the page');
  await page.click('#enable button[type=submit]');
  await page.waitForFunction(() => document.querySelector('[data-field=origin]')?.textContent === 'database');
  check(await text(page, '[data-field=issuer]') === config.issuer, 'the new provider is in force');
  await shot(page, 'enabled');

  // A fresh browser signs in through the provider now in force, no restart.
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const visitor = watch(await fresh.newPage());
  current(visitor);
  await visitor.goto(`${config.base}/`);
  await visitor.waitForURL((u) => u.pathname.startsWith('/interaction/'));
  check(visitor.url().startsWith(config.issuer), `sign-in goes to the provider: ${visitor.url()}`);
  await visitor.fill('input[name=username]', config.user);
  await visitor.fill('input[name=password]', 'password');
  await visitor.click('button[type=submit]');
  await visitor.waitForURL((u) => u.origin === config.base && u.pathname === '/');
  check(await text(visitor, '.who') === config.user, 'signed in as the provider\'s user');
  await shot(visitor, 'signed-in-through-provider');
  await fresh.close();
  return {};
});
