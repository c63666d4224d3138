// A developer of another team: only their team's repositories, a 404 for the others (as the
// API answers), a 403 page with the reason for the admin pages, and sign-in when signed out.
import { check, config, run, shot, signIn } from './lib.mjs';

await run(async (browser, context, current) => {
  const page = await signIn(context, config.developer);
  current(page);
  const repos = await page.locator('.repos .repo').allTextContents();
  check(repos.includes('acme/api'), `the developer sees acme/api: ${repos}`);
  check(!repos.includes('other/secret'), `the developer does not see other/secret: ${repos}`);
  await shot(page, 'repositories');

  const hidden = await page.goto(`${config.base}/other/secret`);
  check(hidden.status() === 404, `another team's repository is not found: ${hidden.status()}`);
  const settings = await page.goto(`${config.base}/other/secret/settings`);
  check(settings.status() === 404, `nor its settings: ${settings.status()}`);

  const admin = await page.goto(`${config.base}/admin`);
  check(admin.status() === 403, `/admin is refused: ${admin.status()}`);
  const reason = await page.locator('.reason').textContent();
  check(reason.length > 0 && !/panicked|stack/i.test(reason), `with a reason: ${reason}`);
  check(await page.locator('nav a', { hasText: 'Admin' }).count() === 0, 'no admin link in the header');
  for (const p of ['/admin/tokens', '/admin/policy', '/admin/identity', '/admin/runners', '/admin/access', '/admin/audit']) {
    const r = await page.goto(config.base + p);
    check(r.status() === 403, `${p} is refused: ${r.status()}`);
  }
  await shot(page, 'admin-refused');

  const stranger = await browser.newContext();
  const anonymous = await stranger.newPage();
  await anonymous.goto(`${config.base}/acme/api`);
  await anonymous.waitForURL((u) => u.pathname.startsWith('/interaction/'));
  await stranger.close();
  return {};
});
