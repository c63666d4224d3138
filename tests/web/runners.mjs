// An administrator's runners page: the in-process runner and a registered remote runner with
// its labels, then the remote one revoked from its row (the API with the session's CSRF token).
import { api, check, config, run, shot, signIn } from './lib.mjs';

await run(async (browser, context, current) => {
  const made = await api('POST', '/api/runners', { name: 'gpu-1', labels: 'gpu=yes' });
  check(made.status === 201, `a runner is registered: ${made.status}`);

  const page = await signIn(context, config.admin, '/admin');
  current(page);
  await page.click('a[href="/admin/runners"]');
  await page.waitForURL((u) => u.pathname === '/admin/runners');
  const rows = await page.locator('table.runners tbody tr').allTextContents();
  check(rows.length === 2, `two runners are listed: ${rows}`);
  check(/in-process/.test(rows[0]), `the in-process runner first: ${rows[0]}`);
  check(/gpu-1/.test(rows[1]) && /gpu=yes/.test(rows[1]) && /never/.test(rows[1]),
    `the remote runner with its labels, never seen: ${rows[1]}`);
  check(await page.locator('tr[data-runner]').first().locator('button').count() === 0,
    'the in-process runner cannot be revoked');
  await shot(page, 'runners');

  page.once('dialog', (d) => d.accept());
  await page.click('tr[data-runner="gpu-1"] button');
  await page.waitForFunction(() => !document.querySelector('tr[data-runner="gpu-1"]'));
  const left = await api('GET', '/api/runners');
  check(left.json.length === 0, `the runner is revoked: ${JSON.stringify(left.json)}`);
  const audit = await api('GET', '/api/audit?action=runner.revoked');
  check(audit.json.some((e) => e.target === 'runner:gpu-1' && e.actor.login === config.admin),
    `the revocation is audited as the admin: ${JSON.stringify(audit.json)}`);
  return {};
});
