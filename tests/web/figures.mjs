// The figures: first contentful paint of a build page whose log has 50,000 lines, how long the
// whole log takes to arrive and the longest task meanwhile (the page stays responsive), the
// weight of each page before logs, and the server's time for the repository list.
import { check, config, run, shot, signIn } from './lib.mjs';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

await run(async (_browser, context, current) => {
  const page = await signIn(context, config.admin);
  current(page);

  // Page weights: the document and everything it loads, the log streams left out.
  const weights = {};
  for (const p of ['/', '/acme/api', `/acme/api/${config.smallBuild}`, '/acme/api/settings', '/account/tokens', '/admin']) {
    await page.goto(config.base + p, { waitUntil: 'load' });
    weights[p] = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const res = performance.getEntriesByType('resource').filter((r) => !r.name.includes('/api/stream'));
      return nav.decodedBodySize + res.reduce((n, r) => n + r.decodedBodySize, 0);
    });
  }

  // The repository list: the server's time (request sent to first byte), median of 11.
  const server = [];
  for (let i = 0; i < 11; i++) {
    await page.goto(config.base + '/', { waitUntil: 'load' });
    server.push(await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      return nav.responseStart - nav.requestStart;
    }));
  }
  const rows = await page.locator('.repos li').count();
  check(rows > 0, 'the repository list has rows');

  // The 50,000-line log: first paint, all lines, longest task. Three fresh pages.
  const fcp = [];
  const all = [];
  const longest = [];
  for (let i = 0; i < 3; i++) {
    const p = await context.newPage();
    await p.addInitScript(() => {
      window.__longest = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__longest = Math.max(window.__longest, e.duration);
      }).observe({ type: 'longtask', buffered: true });
    });
    await p.goto(`${config.base}/acme/api/${config.bigBuild}?stage=1&step=2`);
    await p.locator('#L50000').waitFor({ state: 'attached', timeout: 120_000 });
    const m = await p.evaluate(() => ({
      fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1,
      all: performance.now(),
      longest: window.__longest,
    }));
    fcp.push(m.fcp);
    all.push(m.all);
    longest.push(m.longest);
    if (i === 0) await shot(p, 'big-log');
    await p.close();
  }
  return {
    repos_shown: rows,
    repo_list_server_ms: median(server),
    page_weight_bytes: weights,
    big_log_fcp_ms: median(fcp),
    big_log_all_lines_ms: median(all),
    big_log_longest_task_ms: median(longest),
  };
});
