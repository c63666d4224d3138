// An administrator's day: the repositories, a build's log arriving live with its colours, a
// running build cancelled, the settings changed, a token made, used and revoked, sign-out.
import { api, check, config, run, shot, signIn } from './lib.mjs';

async function startBuild(mode) {
  const { status, json } = await api('POST', `/api/repos/acme/api/builds?branch=main&MODE=${mode}`);
  check(status === 200, `starting a ${mode} build: ${status} ${JSON.stringify(json)}`);
  return json.number;
}

await run(async (_browser, context, current) => {
  const violations = [];
  const page = await signIn(context, config.admin);
  current(page);
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });

  // The repositories, each with its newest build.
  const front = await page.goto(config.base + '/');
  const csp = front.headers()['content-security-policy'] ?? '';
  check(csp.includes("default-src 'self'") && !csp.includes('unsafe-inline'), `a strict CSP: ${csp}`);
  const repos = await page.locator('.repos .repo').allTextContents();
  check(repos.includes('acme/api') && repos.includes('other/secret'), `the admin sees every repository: ${repos}`);
  await shot(page, 'repositories');

  // A build's log, live.
  const live = await startBuild('live');
  // Step 2 (after the clone) does the work; it has no row until the stage starts, and the
  // page draws itself again when it does.
  await page.goto(`${config.base}/acme/api/${live}?stage=1&step=2`);
  await page.locator('#L1').waitFor({ timeout: 60_000 });
  const seenWhileRunning = await page.locator('#log-lines .ln').count();
  const statusWhileRunning = await page.locator('#build-status').getAttribute('data-status');
  await shot(page, 'build-running');
  await page.locator('#build-status[data-status=success]').waitFor({ timeout: 60_000 });
  // Line 1 echoes the command; lines 2 to 41 are the build's.
  await page.locator('#L41').waitFor();
  check(
    seenWhileRunning < 41 && statusWhileRunning !== 'success',
    `lines arrived while the build ran (${seenWhileRunning} of 41 seen, build ${statusWhileRunning})`,
  );
  check(await page.locator('#log-lines .f32').count() > 0, 'ANSI green is rendered as a class');
  check((await page.locator('#L41').textContent()).includes('line 40 of the build'), 'line 41 is the last');
  await page.goto(`${config.base}/acme/api`);
  await page.locator(`a[href="/acme/api/${live}"]`).waitFor();
  await page.goto(`${config.base}/acme/api/${live}?stage=1&step=2#L20`);
  await page.locator('#L20.hl').waitFor();
  await shot(page, 'build-finished');

  // A running build, cancelled from its page.
  const long = await startBuild('long');
  await page.goto(`${config.base}/acme/api/${long}?stage=1&step=2`);
  await page.locator('#L1').waitFor({ timeout: 60_000 });
  await page.click('#cancel');
  await page.locator('#build-status[data-status=killed]').waitFor({ timeout: 30_000 });
  const stopped = await page.locator('.identity .stopped').textContent();
  check(stopped.length > 0, 'the identity card says why the build stopped');
  check(await page.locator('#restart').count() === 1, 'a killed build offers a restart');
  await shot(page, 'build-cancelled');

  // Settings: timeout, a secret whose value is never shown.
  await page.goto(`${config.base}/acme/api/settings`);
  await page.fill('input[name=timeout]', '90');
  await Promise.all([page.waitForEvent('load'), page.click('text=Save')]);
  const repo = await api('GET', '/api/repos/acme/api');
  check(repo.json.timeout === 90, `the timeout was saved: ${repo.json.timeout}`);
  await page.fill('form[data-api$="/secrets"] input[name=name]', 'DEPLOY_KEY');
  await page.fill('form[data-api$="/secrets"] input[name=data]', 'value-never-shown');
  await Promise.all([page.waitForEvent('load'), page.click('form[data-api$="/secrets"] button[type=submit]')]);
  await page.locator('.secrets code', { hasText: 'DEPLOY_KEY' }).waitFor();
  check(!(await page.content()).includes('value-never-shown'), 'a secret value is never on a page');
  await shot(page, 'settings');

  // A token: made, shown once, used, revoked.
  await page.goto(`${config.base}/account/tokens`);
  await page.fill('input[name=name]', 'laptop');
  await page.fill('input[name=expires_in]', '7');
  await page.click('text=Create token');
  await page.locator('#token-value').waitFor();
  const token = (await page.locator('#token-value').textContent()).trim();
  check(token.startsWith('hgr_'), `a token is shown: ${token.slice(0, 8)}`);
  await shot(page, 'token-created');
  const me = await fetch(`${config.real}/api/user`, { headers: { Authorization: `Bearer ${token}` } });
  check(me.status === 200, `the new token works: ${me.status}`);
  await page.goto(`${config.base}/account/tokens`);
  check(!(await page.content()).includes(token), 'the token is not shown again');
  page.once('dialog', (d) => d.accept());
  const row = page.locator('tr', { hasText: 'laptop' });
  await Promise.all([page.waitForEvent('load'), row.locator('button', { hasText: 'Revoke' }).click()]);
  await page.locator('tr', { hasText: 'laptop' }).locator('.token-state', { hasText: 'revoked' }).waitFor();
  const after = await fetch(`${config.real}/api/user`, { headers: { Authorization: `Bearer ${token}` } });
  check(after.status === 401, `the revoked token is refused: ${after.status}`);
  await shot(page, 'token-revoked');

  // The admin page, then sign-out.
  const admin = await page.goto(`${config.base}/admin`);
  check(admin.status() === 200, `an admin opens /admin: ${admin.status()}`);
  await shot(page, 'admin');

  // The policy explorer: what the acme developers' group gets, without their account.
  await page.goto(`${config.base}/admin/policy`);
  await page.fill('input[name=groups]', 'acme-devs');
  await Promise.all([page.waitForEvent('load'), page.click('form[action="/admin/policy"] button')]);
  const explored = await page.locator('table a').allTextContents();
  check(explored.includes('acme/api') && !explored.includes('other/secret'),
    `acme-devs read acme/api and not other/secret: ${explored}`);
  check((await page.content()).includes('developer'), 'their role is named');
  await shot(page, 'policy-explorer');

  // Every live token on the server, with its owner.
  const sprawl = await page.goto(`${config.base}/admin/tokens`);
  check(sprawl.status() === 200, `an admin opens /admin/tokens: ${sprawl.status()}`);
  check(await page.locator('tr', { hasText: 'bootstrap-admin' }).count() > 0, 'the bootstrap token is listed');
  await shot(page, 'admin-tokens');
  await page.goto(`${config.base}/`);
  await Promise.all([page.waitForEvent('load'), page.click('text=Sign out')]);
  const session = await page.goto(`${config.base}/auth/session`);
  check(session.status() === 401, `signed out: /auth/session answers ${session.status()}`);

  check(violations.length === 0, `no Content-Security-Policy violation: ${violations.join(' | ')}`);
  return {};
});
