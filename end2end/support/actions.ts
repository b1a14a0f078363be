import type { APIRequestContext, Page } from '@playwright/test';
import { ingestKey } from '../playwright.config';

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
