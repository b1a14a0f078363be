import { expect, test } from '@playwright/test';
import { collectErrors, ingest, signIn } from '../support/actions';

/** 200 calm minutes of a new series, then one wild minute and one that closes it. */
async function ingestSpike(request: Parameters<typeof ingest>[0], name: string) {
  const minute = 60_000;
  const start = (Math.floor(Date.now() / minute) - 210) * minute;
  const points = Array.from({ length: 202 }, (_, m) => ({
    timestamp: start + m * minute,
    name,
    value: m === 200 ? 5_000 : 50 + 5 * Math.sin(m / 15),
  }));
  const res = await ingest(request, { context: { service: 'e2e' }, metrics: points });
  expect(res.status()).toBe(202);
  return start + 200 * minute;
}

test('a detected anomaly is listed with its explanation and can be marked normal', async ({ page, request }) => {
  const errors = collectErrors(page);
  const at = await ingestSpike(request, 'e2e.latency');
  await expect
    .poll(async () => {
      const res = await request.get('/api/v1/anomalies?metric=e2e.latency&from=now-6h');
      return (await res.json()).anomalies.map((a: { timestamp: number }) => a.timestamp);
    })
    .toContain(at);

  await signIn(page, '/anomalies');
  await expect(page.getByRole('heading', { name: 'Anomalies' })).toBeVisible();
  const row = page.locator('tr[data-metric="e2e.latency"]');
  await expect(row).toHaveCount(1);
  await expect(row.locator('.why')).toContainText('above its usual range');
  await expect(row).toContainText('service=e2e');

  await row.getByRole('button', { name: 'Not an anomaly' }).click();
  await expect(page).toHaveURL(/\/anomalies/);
  await expect(row).toHaveClass(/dismissed/);
  await expect(row).toContainText('Marked normal');
  const res = await request.get('/api/v1/anomalies?metric=e2e.latency&from=now-6h');
  expect((await res.json()).anomalies[0].dismissed).toBe(true);
  expect(errors).toEqual([]);
});

test('the forecast view draws history, forecast and intervals, and says when a threshold is reached', async ({ page, request }) => {
  const errors = collectErrors(page);
  // The demo writes its three days of history oldest first: wait until it reaches now.
  await expect
    .poll(async () => {
      const res = await request.get('/api/v1/query_range?metric=sessions.active&from=now-2m');
      return (await res.json()).series.length;
    }, { timeout: 30_000 })
    .toBeGreaterThan(0);
  await page.goto('/forecast');
  await page.getByLabel('Metric').selectOption('sessions.active');
  await page.getByLabel('Horizon').selectOption('6h');
  await page.getByLabel('Threshold').fill('1');
  await page.getByRole('button', { name: 'Forecast' }).click();
  await expect(page).toHaveURL(/metric=sessions\.active/);
  await expect(page.locator('.forecast-notes li')).toContainText(/ETS\(/);
  const panel = page.locator('section.panel[data-panel="forecast"]');
  await expect(panel.locator('.legend li')).toHaveCount(2);
  await expect(panel.locator('.legend li').nth(1)).toContainText('forecast');
  // The intervals are drawn as filled bands in the server's SVG.
  expect(await panel.locator('.chart-ssr svg polygon').count()).toBeGreaterThanOrEqual(2);
  await expect(panel.locator('canvas')).toHaveAttribute('data-points', /^[1-9]/);
  expect(errors).toEqual([]);
});
