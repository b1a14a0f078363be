import { expect, test } from '@playwright/test';
import { collectErrors, ingest, signIn } from '../support/actions';

const payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';

test('markup sent as names, labels and messages is shown as text and never runs', async ({ page, request }) => {
  const errors = collectErrors(page);
  const now = Date.now();
  const res = await ingest(request, {
    context: { service: payload },
    metrics: [0, 1, 2].map((i) => ({ timestamp: now - i * 1000, name: 'http.requests', kind: 'counter', value: 100 + i, labels: { route: payload } })),
    events: [{ timestamp: now, name: payload }],
    errors: [{ timestamp: now, type: payload, message: payload }],
  });
  expect(res.status()).toBe(202);
  // A rule named with markup, shown on the Alerts page.
  await signIn(page, '/alerts');
  const form = page.locator('form.rule-form');
  await form.getByLabel('Name').fill(payload);
  await form.getByLabel('Metric').fill('http.requests');
  await form.getByLabel('Threshold').fill('1000000');
  await form.getByRole('button', { name: 'Preview' }).click();
  await page.getByRole('button', { name: 'Create rule' }).click();
  await expect(page.getByRole('heading', { name: payload })).toBeVisible();

  for (const path of ['/', '/alerts', '/anomalies']) {
    await page.goto(path);
    await page.waitForLoadState('networkidle');
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), path).toBeUndefined();
    // Escaped, not parsed: no element came out of the payload.
    expect(await page.locator('img[src="x"]').count(), path).toBe(0);
  }
  await page.goto('/alerts');
  await expect(page.locator('tr[data-rule]').filter({ hasText: '<script>' })).toHaveCount(1);
  expect(errors.filter((e) => !e.includes('favicon'))).toEqual([]);
});
