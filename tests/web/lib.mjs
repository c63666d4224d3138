// What every browser story shares: Debian's Chromium driven by playwright-core, Hangar reached
// at its public URL (http://hangar.test, mapped onto the test server's real address), sign-in
// through the test OpenID provider's real form, screenshots under target/screenshots/.
//
// A story is `node STORY.mjs CONFIG_JSON`, started by tests/it/web; CONFIG_JSON holds
// {base, real, screenshots, adminToken, ...}. It prints one JSON line (its figures) when every
// check held, else exits 1 with the reason (and a screenshot named failure-STORY.png).

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

export const config = JSON.parse(process.argv[2] ?? '{}');
const story = path.basename(process.argv[1], '.mjs');
fs.mkdirSync(config.screenshots, { recursive: true });

const CHROMIUM = process.env.HANGAR_CHROMIUM ?? '/usr/bin/chromium';

export async function launch() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM} (apt-get install -y chromium)`);
  }
  const real = new URL(config.real);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      `--host-resolver-rules=MAP hangar.test ${real.hostname}:${real.port}`,
    ],
  });
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

export async function shot(page, name) {
  await page.screenshot({ path: path.join(config.screenshots, `${story}-${name}.png`), fullPage: true });
}

/// Signs in as `username` (password "password") through the provider's form, from `path`.
export async function signIn(context, username, pathname = '/') {
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`);
  });
  page.errors = errors;
  await page.goto(config.base + pathname);
  await page.waitForURL((u) => u.pathname.startsWith('/interaction/'));
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', 'password');
  await page.click('button[type=submit]');
  await page.waitForURL((u) => u.host === 'hangar.test' && u.pathname === pathname);
  return page;
}

/// A call to the API as the bootstrap administrator (from this process, not the browser).
export async function api(method, pathname, body) {
  const res = await fetch(config.real + pathname, {
    method,
    headers: {
      Authorization: `Bearer ${config.adminToken}`,
      ...(body ? { 'Content-Type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/// Runs the story; prints its figures or fails with a screenshot.
export async function run(body) {
  const browser = await launch();
  let page = null;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const figures = await body(browser, context, (p) => { page = p; });
    console.log(JSON.stringify({ ok: true, figures: figures ?? {} }));
  } catch (e) {
    if (page) {
      await page.screenshot({ path: path.join(config.screenshots, `failure-${story}.png`), fullPage: true }).catch(() => {});
      console.error(`on ${page.url()}: ${(page.errors ?? []).join(' | ')}`);
    }
    console.error(e.stack || String(e));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
