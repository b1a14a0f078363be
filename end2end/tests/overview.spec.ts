import { expect, test } from '@playwright/test';
import * as at from '../support/locators';
import { collectErrors, ingest, openOverview } from '../support/actions';
import { expectSixDrawnCharts } from '../support/checks';

test('the Overview draws six charts over the demo data, without console errors', async ({ page }) => {
  const errors = collectErrors(page);
  await openOverview(page);
  await expectSixDrawnCharts(page);
  await expect(at.liveToggle(page)).toHaveAttribute('data-status', 'live');
  expect(errors).toEqual([]);
});

test('the page is readable with JavaScript disabled', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await openOverview(page);
  await expect(at.panels(page)).toHaveCount(6);
  await expect(at.ssrCharts(page)).toHaveCount(6);
  for (const title of ['Request rate', 'p95 latency', 'Error rate', 'Revenue per minute', 'Active sessions', 'CPU by host']) {
    await expect(page.getByRole('heading', { name: title })).toBeVisible();
  }
  // Each server-drawn chart has a line, and the legend shows current values.
  for (const svg of await at.ssrCharts(page).all()) {
    expect(await svg.locator('polyline, path').count()).toBeGreaterThan(0);
  }
  await expect(at.panel(page, 'cpu').locator('.legend li')).toHaveCount(4);
  await context.close();
});

test('a posted batch shows up in the live chart within a second', async ({ page, request }) => {
  await openOverview(page, '?range=15m');
  await expect(at.liveToggle(page)).toHaveAttribute('data-status', 'live');
  const canvas = at.canvas(page, 'sessions');
  await expect(canvas).toHaveAttribute('data-points', /^[1-9]/);
  const before = Number(await canvas.getAttribute('data-max'));
  const spike = before * 50 + 1_000_000;
  const res = await ingest(request, { metrics: [{ timestamp: Date.now(), name: 'sessions.active', value: spike }] });
  expect(res.status()).toBe(202);
  await expect
    .poll(async () => Number(await canvas.getAttribute('data-max')), { timeout: 1_000, intervals: [50] })
    .toBeGreaterThan(before * 10);
});

test('the time range picker reloads the panels for the chosen range', async ({ page }) => {
  await openOverview(page);
  await expect(at.canvas(page, 'requests')).toHaveAttribute('data-span', String(3_600_000));
  await at.rangeLink(page, '6h').click();
  await expect(page).toHaveURL(/range=6h/);
  await expect(at.subtitle(page)).toHaveText('Last 6 hours');
  await expect(at.rangeLink(page, '6h')).toHaveClass(/active/);
  await expect(at.canvas(page, 'requests')).toHaveAttribute('data-span', String(6 * 3_600_000));
  await expectSixDrawnCharts(page);
});

test('hovering a chart shows the time and values', async ({ page }) => {
  await openOverview(page);
  const canvas = at.canvas(page, 'cpu');
  await expect(canvas).toHaveAttribute('data-points', /^[1-9]/);
  const box = (await canvas.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  const tip = at.tooltip(page, 'cpu');
  await expect(tip).toBeVisible();
  await expect(tip).toContainText('UTC');
  await expect(tip.locator('.tooltip-row')).toHaveCount(4);
});

test('the theme toggle switches and remembers the theme', async ({ page }) => {
  await openOverview(page);
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await expect(at.hydratedCharts(page)).toHaveCount(6);
  await at.themeToggle(page).click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(light).not.toBe(dark);
  await page.reload();
  // The server renders the remembered theme, so there is no flash of the other one.
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
});
