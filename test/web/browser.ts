/**
 * Helpers of the browser tests: Debian's Chromium (never a downloaded browser), the built
 * playground served on 127.0.0.1 by `vite preview`, and every request outside 127.0.0.1 refused
 * (the page must work offline).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';

export const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));
export const DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));

/** Debian's Chromium, or null (also with MOELAB_NO_BROWSER=1, to exercise the skip path). */
export function chromiumPath(): string | null {
  if (process.env.MOELAB_NO_BROWSER === '1') return null;
  for (const p of [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser']) if (p && existsSync(p)) return p;
  return null;
}

export async function buildPlayground(): Promise<void> {
  await build({ root: WEB_ROOT, configFile: `${WEB_ROOT}vite.config.ts`, logLevel: 'error' });
}

export async function serve(): Promise<{ server: PreviewServer; url: string }> {
  const server = await preview({ root: WEB_ROOT, configFile: `${WEB_ROOT}vite.config.ts`, logLevel: 'error', preview: { host: '127.0.0.1', port: 0, strictPort: false, open: false } });
  const addr = server.httpServer.address();
  if (!addr || typeof addr === 'string') throw new Error('preview server has no port');
  return { server, url: `http://127.0.0.1:${addr.port}/` };
}

export async function launch(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}

/** A page that refuses every request not to 127.0.0.1 and records them. */
export async function offlinePage(browser: Browser, refused: string[], errors: string[]): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  await ctx.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.hostname === '127.0.0.1' || u.protocol === 'data:' || u.protocol === 'blob:') return route.continue();
    refused.push(u.href);
    return route.abort();
  });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return page;
}

export async function text(page: Page, testid: string): Promise<string> {
  return (await page.getByTestId(testid).textContent()) ?? '';
}

/** Wait until data-testid `testid` shows one of `values` (or throw with what it shows). */
export async function waitFor(page: Page, testid: string, values: string[], timeout = 60_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const v = await text(page, testid);
    if (values.includes(v)) return v;
    if (v === 'error' || Date.now() - t0 > timeout) {
      throw new Error(`${testid} = ${JSON.stringify(v)} (wanted ${values.join('|')}); warnings: ${await text(page, 'fit-warnings')} ${await text(page, 'study-progress')}`);
    }
    await page.waitForTimeout(50);
  }
}
