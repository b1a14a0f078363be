import type { APIRequestContext, Page } from '@playwright/test';
import { adminPassword, ingestKey } from '../playwright.config';

/** Things a person (or a client) does. */
export async function openOverview(page: Page, query = '') {
  await page.goto(`/${query}`);
}

/** `n` random hex digits: trace ids (32) and span ids (16). */
export const hex = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join('');

/** Posts one ingest batch and returns the response. */
export async function ingest(request: APIRequestContext, body: unknown) {
  return request.post('/api/v1/ingest', {
    headers: { Authorization: `Bearer ${ingestKey}` },
    data: body,
  });
}

/** Collects console errors and page errors while a test runs. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

/** Signs in as the first admin through the sign-in page, and comes back to `next`. */
export async function signIn(page: Page, next = '/') {
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(adminPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => url.pathname === next.split('?')[0]);
}

/**
 * A monitored site on a real socket (another origin than Osprey): serves one empty page, so
 * tests load the SDK from Osprey into it as a customer's site would.
 */
export async function startShop(): Promise<{ url: string; close: () => Promise<void> }> {
  return startSite(() => '<!doctype html><title>shop</title><h1>shop</h1>');
}

/** Another site on a real socket (another origin than Osprey) serving the page `html` makes. */
export async function startSite(
  html: (url: URL) => string,
): Promise<{ url: string; origin: string; close: () => Promise<void> }> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' }).end(html(new URL(req.url ?? '/', 'http://host')));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  server.unref(); // a failed test that never closes it does not keep the worker alive
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/`,
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
