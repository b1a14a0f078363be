import { expect, test } from '@playwright/test';
import { collectErrors, signIn } from '../support/actions';

test('a dashboard made through the API shows its panels on the grid, and a variable narrows them', async ({ page }) => {
  const errors = collectErrors(page);
  await signIn(page, '/dashboards');
  const title = `Shop ${Date.now()}`;
  // Changes from a signed-in browser must name Osprey as their origin (CSRF protection).
  const origin = new URL(page.url()).origin;
  const created = await page.request.post('/api/v1/dashboards', {
    headers: { origin },
    data: {
      title,
      time: { from: 'now-6h', to: 'now' },
      variables: [{ name: 'service', label: 'service' }],
      panels: [
        { title: 'Requests by service', query: { metric: 'http.requests', agg: 'rate', group_by: ['service'] }, viz: 'line', grid: { x: 0, y: 0, w: 16, h: 9 } },
        { title: 'p95 latency', query: { metric: 'http.latency_ms', agg: 'p95', group_by: ['service'], filter: { service: '$service' } }, viz: 'line', grid: { x: 16, y: 0, w: 8, h: 9 } },
        { title: 'Revenue', query: { metric: 'shop.revenue', agg: 'sum' }, viz: 'area' },
      ],
    },
  });
  expect(created.status()).toBe(201);
  const { id, panels } = await created.json();
  // The demo's first minutes of data are written as Osprey starts; wait until they are there.
  await expect
    .poll(async () => {
      const r = await page.request.get('/api/v1/query_range?metric=http.latency_ms&agg=p95&group_by=service&from=now-1h');
      return (await r.json()).series?.length ?? 0;
    })
    .toBeGreaterThan(1);

  await page.goto('/dashboards');
  await page.getByRole('link', { name: title }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(title);
  // With no range in the link the dashboard opens on its own (six hours).
  await expect(page.locator('.page-header .subtitle')).toContainText('Last 6 hours');
  for (const p of panels) await expect(page.locator(`[data-panel="${p.id}"]`)).toBeVisible();
  // Placed as the grid says: the first panel is twice as wide as the second.
  const first = await page.locator(`[data-panel="${panels[0].id}"]`).boundingBox();
  const second = await page.locator(`[data-panel="${panels[1].id}"]`).boundingBox();
  expect(first!.width).toBeGreaterThan(second!.width * 1.8);
  const latency = page.locator(`[data-panel="${panels[1].id}"] .legend li`);
  expect(await latency.count()).toBeGreaterThan(1);

  // Choosing a value puts it in the URL and narrows the panels that use the variable.
  await page.getByLabel('Variable service').selectOption('checkout');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(new RegExp(`/dashboards/${id}\\?.*var-service=checkout`));
  await expect(latency).toHaveCount(1);
  await expect(latency).toContainText('checkout');
  // Another range keeps the variable.
  await page.locator('.range-picker a[data-range="15m"]').click();
  await expect(page).toHaveURL(/range=15m&var-service=checkout/);
  await expect(latency).toHaveCount(1);
  expect(await page.locator(`[data-panel="${panels[0].id}"] .legend li`).count()).toBeGreaterThan(1);
  expect(errors).toEqual([]);
});

test('an editor builds a dashboard in the page: create, add a panel, duplicate, remove, delete, import', async ({ page }) => {
  const errors = collectErrors(page);
  await signIn(page, '/dashboards');
  const title = `Built ${Date.now()}`;
  await page.getByLabel('Title').first().fill(title);
  await page.getByRole('button', { name: 'Create' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(title);
  const url = page.url();

  const add = page.locator('.add-panel');
  await add.getByLabel('Title').fill('Requests');
  await add.getByLabel('Metric').fill('http.requests');
  await add.getByLabel('Aggregation').selectOption('rate');
  await add.getByLabel('Group by').fill('service');
  await add.getByLabel('Width').selectOption('24');
  await add.getByRole('button', { name: 'Add panel' }).click();
  await expect(page.locator('.dashboard-cell')).toHaveCount(1);
  await expect(page.locator('.dashboard-cell h2')).toHaveText('Requests');

  // The export is the import: the JSON of this dashboard makes an equal one.
  const exported = await (await page.request.get(new URL(url).pathname.replace('/dashboards/', '/api/v1/dashboards/'))).json();
  expect(exported.panels[0].query).toMatchObject({ metric: 'http.requests', agg: 'rate', group_by: ['service'] });

  await page.getByRole('button', { name: 'Duplicate' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`Copy of ${title}`);
  await page.getByRole('button', { name: 'Remove panel Requests' }).click();
  await expect(page.locator('.dashboard-cell')).toHaveCount(0);
  await page.getByRole('button', { name: 'Delete dashboard' }).click();
  await expect(page).toHaveURL(/\/dashboards$/);
  await expect(page.getByRole('link', { name: `Copy of ${title}` })).toHaveCount(0);
  await expect(page.getByRole('link', { name: title, exact: true })).toHaveCount(1);

  await page.locator('details.import summary').click();
  exported.title = `${title} imported`;
  await page.locator('details.import textarea').fill(JSON.stringify(exported));
  await page.getByRole('button', { name: 'Import' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`${title} imported`);
  await expect(page.locator('.dashboard-cell h2')).toHaveText('Requests');
  expect(errors).toEqual([]);
});
