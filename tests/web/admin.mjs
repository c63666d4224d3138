// An administrator's records and a repository's schedule: verified commits switched on and off
// and a cron job added, disabled, enabled, run and deleted from the settings page; the grants
// and policies in force; the audit trail filtered, with the chain's state, also on a phone; and a
// developer refused all of it.
import { api, check, config, run, shot, signIn } from './lib.mjs';

async function save(page, selector) {
  await Promise.all([page.waitForEvent('load', { timeout: 60_000 }), page.click(selector)]);
}

await run(async (browser, context, current) => {
  const violations = [];
  const page = await signIn(context, config.admin);
  current(page);
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });

  // Verified commits, on and off again.
  await page.goto(`${config.base}/acme/api/settings`);
  await page.check('input[name=verify_commits]');
  await save(page, 'text=Save');
  let repo = await api('GET', '/api/repos/acme/api');
  check(repo.json.verify_commits === true, `verified commits switched on: ${repo.json.verify_commits}`);
  check(await page.isChecked('input[name=verify_commits]'), 'the box stays checked');
  await shot(page, 'settings-verified-commits');
  await page.uncheck('input[name=verify_commits]');
  await save(page, 'text=Save');
  repo = await api('GET', '/api/repos/acme/api');
  check(repo.json.verify_commits === false, `and off: ${repo.json.verify_commits}`);

  // A cron job: a bad schedule is refused with the reason, a good one listed.
  const add = 'form[data-api$="/cron"]';
  await page.fill(`${add} input[name=name]`, 'nightly');
  await page.fill(`${add} input[name=expr]`, 'not a schedule');
  await page.click(`${add} button[type=submit]`);
  await page.locator(`${add} .form-error`).waitFor();
  check((await page.locator(`${add} .form-error`).textContent()).length > 0, 'a bad schedule says why');
  await page.fill(`${add} input[name=expr]`, '0 3 * * *');
  await page.fill(`${add} input[name=zone]`, 'Europe/Berlin');
  await save(page, `${add} button[type=submit]`);
  const row = page.locator('table.crons tr', { hasText: 'nightly' });
  await row.waitFor();
  check((await row.textContent()).includes('Europe/Berlin'), 'the job is listed with its zone');
  check((await row.textContent()).includes(config.admin), 'it runs as whoever made it');
  await save(page, 'table.crons tr:has-text("nightly") button:has-text("Disable")');
  let job = await api('GET', '/api/repos/acme/api/cron/nightly');
  check(job.json.disabled === true, `disabled: ${JSON.stringify(job.json)}`);
  await page.locator('table.crons tr:has-text("nightly") .st', { hasText: 'disabled' }).waitFor();
  await shot(page, 'settings-cron-disabled');
  await save(page, 'table.crons tr:has-text("nightly") button:has-text("Enable")');
  job = await api('GET', '/api/repos/acme/api/cron/nightly');
  check(job.json.disabled === false, `enabled again: ${JSON.stringify(job.json)}`);
  await Promise.all([
    page.waitForURL((u) => /^\/acme\/api\/\d+$/.test(u.pathname)),
    page.click('table.crons tr:has-text("nightly") button:has-text("Run now")'),
  ]);
  const number = Number(new URL(page.url()).pathname.split('/').pop());
  const build = await api('GET', `/api/repos/acme/api/builds/${number}`);
  check(build.json.event === 'cron', `run now started a cron build: ${JSON.stringify(build.json.event)}`);
  await page.goto(`${config.base}/acme/api/settings`);
  page.once('dialog', (d) => d.accept());
  await save(page, 'table.crons tr:has-text("nightly") button:has-text("Delete")');
  check(await page.locator('table.crons tr', { hasText: 'nightly' }).count() === 0, 'the job is gone');
  job = await api('GET', '/api/repos/acme/api/cron/nightly');
  check(job.status === 404, `deleted: ${job.status}`);

  // Groups, roles and the policy text in force.
  const access = await page.goto(`${config.base}/admin/access`);
  check(access.status() === 200, `an admin opens /admin/access: ${access.status()}`);
  check(await page.locator('tr', { hasText: 'acme-devs' }).count() === 1, 'the acme grant is listed');
  check((await page.locator('pre.policy').first().textContent()).includes('permit'), 'the policy text is shown');
  await shot(page, 'access');

  // The audit trail: the cron job's story, filtered, and the chain verified.
  await page.goto(`${config.base}/admin/audit`);
  check((await page.locator('#chain').textContent()).startsWith('Intact'), 'the chain verifies');
  await page.fill('input[name=action]', 'cron.*');
  await save(page, 'form[action="/admin/audit"] button');
  const actions = await page.locator('table.audit td.action').allTextContents();
  check(actions.length >= 4 && actions.every((a) => a.startsWith('cron.')), `only cron entries: ${actions}`);
  await shot(page, 'audit');
  await page.setViewportSize({ width: 390, height: 844 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 390, `the audit page fits a phone: ${wide}px wide`);
  await shot(page, 'audit-phone');

  // A developer gets none of it.
  const other = await browser.newContext();
  const bob = await signIn(other, config.developer);
  for (const p of ['/admin/access', '/admin/audit']) {
    const r = await bob.goto(config.base + p);
    check(r.status() === 403, `${p} is refused to a developer: ${r.status()}`);
  }
  await other.close();

  check(violations.length === 0, `no Content-Security-Policy violation: ${violations.join(' | ')}`);
  return {};
});
