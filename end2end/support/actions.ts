import type { APIRequestContext, Page } from '@playwright/test';
import { adminPassword, ingestKey } from '../playwright.config';

/** Things a person (or a client) does. */
export async function openOverview(page: Page, query = '') {
  await page.goto(`/${query}`);
}

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
