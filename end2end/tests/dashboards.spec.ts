import { expect, test } from '@playwright/test';
import { collectErrors, ingest, signIn } from '../support/actions';

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

test('panels draw as bars, heatmaps, stats and tables, and a stat follows live data', async ({ page, request }) => {
  const errors = collectErrors(page);
  await signIn(page, '/dashboards');
  const metric = `e2e.queue_depth_${Date.now()}`;
  const now = Date.now();
  // Three services over the last few minutes.
  const metrics = ['api', 'checkout', 'web'].flatMap((service, s) =>
    Array.from({ length: 5 }, (_, i) => ({
      timestamp: now - (5 - i) * 60_000, name: metric, value: (s + 1) * 10 + i, labels: { service },
    })));
  expect((await ingest(request, { metrics })).status()).toBe(202);
  const created = await page.request.post('/api/v1/dashboards', {
    headers: { origin: new URL(page.url()).origin },
    data: {
      title: `Shapes ${now}`,
      time: { from: 'now-15m', to: 'now' },
      panels: [
        { title: 'Bars', query: { metric, agg: 'max', group_by: ['service'] }, viz: 'bar', grid: { x: 0, y: 0, w: 12, h: 8 } },
        { title: 'Heat', query: { metric, agg: 'max', group_by: ['service'] }, viz: 'heatmap', grid: { x: 12, y: 0, w: 12, h: 8 } },
        { title: 'Depth now', query: { metric, agg: 'max' }, viz: 'stat', grid: { x: 0, y: 8, w: 8, h: 5 } },
        { title: 'Per service', query: { metric, agg: 'max', group_by: ['service'] }, viz: 'table', grid: { x: 8, y: 8, w: 16, h: 5 } },
      ],
    },
  });
  expect(created.status()).toBe(201);
  const { id, panels } = await created.json();
  await page.goto(`/dashboards/${id}`);
  const [bars, heat, stat, table] = panels.map((p: { id: string }) => page.locator(`section.panel[data-panel="${p.id}"]`));
  await expect(bars).toHaveAttribute('data-viz', 'bar');
  await expect(heat).toHaveAttribute('data-viz', 'heatmap');
  // The heatmap names a row per service; bars and heat are redrawn on canvases.
  for (const service of ['api', 'checkout', 'web']) await expect(heat.locator('.chart-ssr text', { hasText: service })).toHaveCount(1);
  await expect(page.locator('.chart-box.hydrated')).toHaveCount(3);
  expect(Number(await bars.locator('canvas').getAttribute('data-points'))).toBeGreaterThanOrEqual(15);
  // The stat shows the latest value large; the table a row per service.
  await expect(stat.locator('.stat-value')).toHaveText('34.0');
  await expect(table.locator('tbody tr')).toHaveCount(3);
  await expect(table.locator('tbody tr', { hasText: 'checkout' }).locator('td')).toHaveText(['24.0', '20.0', '22.0', '24.0']);

  // A new value reaches the stat through the live stream.
  await expect(page.locator('button.live-toggle')).toHaveAttribute('data-status', 'live');
  expect((await ingest(request, { metrics: [{ timestamp: Date.now(), name: metric, value: 77, labels: { service: 'api' } }] })).status()).toBe(202);
  await expect(stat.locator('.stat-value')).toHaveText('77.0');
  // ...and the table's row of that service (latest and max).
  await expect(table.locator('tbody tr', { hasText: 'api' }).locator('td')).toHaveText(['77.0', '10.0', /./, '77.0']);
  expect(errors).toEqual([]);
});

test('a dashboard of 40 panels comes in one request and one live stream, and is drawn as it scrolls into view', async ({ page }) => {
  const errors = collectErrors(page);
  await signIn(page, '/dashboards');
  const queries = [
    { metric: 'http.requests', agg: 'rate', group_by: ['service'] },
    { metric: 'http.latency_ms', agg: 'p95', group_by: ['service'] },
    { metric: 'http.error_rate', agg: 'avg', group_by: ['service'] },
    { metric: 'system.cpu_percent', agg: 'avg', group_by: ['host'] },
    { metric: 'sessions.active', agg: 'avg' },
  ];
  const vizzes = ['line', 'area', 'bar', 'line', 'stat', 'heatmap', 'line', 'table'];
  const panels = Array.from({ length: 40 }, (_, i) => ({
    title: `Panel ${i + 1}`,
    query: queries[i % queries.length],
    viz: vizzes[i % vizzes.length],
    grid: { x: (i % 3) * 8, y: Math.floor(i / 3) * 7, w: 8, h: 7 },
  }));
  const created = await page.request.post('/api/v1/dashboards', {
    headers: { origin: new URL(page.url()).origin },
    data: { title: `Forty ${Date.now()}`, panels },
  });
  expect(created.status()).toBe(201);
  const { id } = await created.json();
  await expect
    .poll(async () => ((await (await page.request.get('/api/v1/query_range?metric=http.latency_ms&from=now-1h')).json()).series?.length ?? 0))
    .toBeGreaterThan(0);

  // Everything the page asks Osprey for besides its static files.
  const asked: string[] = [];
  const lazyLoads: string[] = [];
  page.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (path.includes('load_panels')) lazyLoads.push(r.postData() ?? '');
    else if (!path.startsWith('/pkg/') && !path.startsWith('/sdk/') && !path.startsWith('/favicon') && r.method() !== 'POST') asked.push(path);
  });
  await page.goto(`/dashboards/${id}`);
  await expect(page.locator('section.panel')).toHaveCount(40);
  // Interactive: the panels in view are drawn by their islands and the live stream is open.
  const drawnAt = await page.evaluate(() => new Promise<number>((done) => {
    const check = () => {
      const inView = [...document.querySelectorAll('.chart-box')].filter((b) => {
        const r = b.getBoundingClientRect();
        return r.bottom > 0 && r.top < innerHeight;
      });
      if (inView.length > 0 && inView.every((b) => b.classList.contains('hydrated'))) done(performance.now());
      else requestAnimationFrame(check);
    };
    check();
  }));
  await expect(page.locator('button.live-toggle')).toHaveAttribute('data-status', 'live');
  const timing = await page.evaluate((drawn) => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    return {
      ttfb: Math.round(nav.responseStart),
      domContentLoaded: Math.round(nav.domContentLoadedEventEnd),
      load: Math.round(nav.loadEventEnd),
      firstScreenDrawn: Math.round(drawn),
      htmlBytes: nav.encodedBodySize,
      drawnCharts: document.querySelectorAll('.chart-box.hydrated').length,
      charts: document.querySelectorAll('.chart-box').length,
    };
  }, drawnAt);
  test.info().annotations.push({ type: 'timing', description: JSON.stringify(timing) });
  console.log(`40-panel dashboard: ${JSON.stringify(timing)}`);
  // One document and one stream: no request per panel.
  expect(asked.filter((p) => p.startsWith('/dashboards/'))).toHaveLength(1);
  expect(asked.filter((p) => p.startsWith('/api/'))).toEqual(['/api/v1/live/panels']);
  // Panels below the fold come with neither data nor drawing; they load as they scroll into
  // view, those arriving together in one request.
  expect(timing.charts).toBeLessThan(20);
  expect(await page.locator('.lazy-panel .pending').count()).toBeGreaterThan(10);
  const loadsBefore = lazyLoads.length;
  await page.locator('.dashboard-cell').last().scrollIntoViewIfNeeded();
  await expect(page.locator('.dashboard-cell').last().locator('section.panel[data-panel]')).toHaveCount(1);
  expect(lazyLoads.length - loadsBefore).toBe(1);
  for (let y = 0; y < 30; y++) await page.mouse.wheel(0, -400);
  await expect(page.locator('.lazy-panel .pending')).toHaveCount(0);
  // Charts are drawn where they are seen.
  await expect
    .poll(() => page.evaluate(() => [...document.querySelectorAll('.chart-box')]
      .filter((b) => { const r = b.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight; })
      .every((b) => b.classList.contains('hydrated'))))
    .toBe(true);
  expect(lazyLoads.length).toBeLessThan(12);
  expect(errors).toEqual([]);
});

test('an editor moves a panel by its title and resizes it by its corner, and the layout is kept', async ({ page }) => {
  const errors = collectErrors(page);
  await signIn(page, '/dashboards');
  const created = await page.request.post('/api/v1/dashboards', {
    headers: { origin: new URL(page.url()).origin },
    data: {
      title: `Layout ${Date.now()}`,
      panels: [
        { title: 'Left', query: { metric: 'http.requests', agg: 'rate' }, viz: 'line', grid: { x: 0, y: 0, w: 12, h: 8 } },
        { title: 'Right', query: { metric: 'sessions.active' }, viz: 'stat', grid: { x: 12, y: 0, w: 12, h: 8 } },
      ],
    },
  });
  const { id, panels } = await created.json();
  const [left, right] = panels.map((p: { id: string }) => p.id);
  const grids = async () => {
    const d = await (await page.request.get(`/api/v1/dashboards/${id}`)).json();
    return Object.fromEntries(d.panels.map((p: { id: string; grid: unknown }) => [p.id, p.grid]));
  };
  await page.goto(`/dashboards/${id}`);
  await expect(page.locator('.dashboard-grid.editable')).toHaveCount(1);
  const grid = (await page.locator('.dashboard-grid').boundingBox())!;
  const column = (grid.width + 12) / 24;
  const status = page.locator('.layout-status');

  // Drag "Right" by its title twelve columns left, onto "Left": Left moves down below it.
  const title = (await page.locator(`[data-cell="${right}"] .panel-header h2`).boundingBox())!;
  await page.mouse.move(title.x + 10, title.y + title.height / 2);
  await page.mouse.down();
  await page.mouse.move(title.x + 10 - 12 * column, title.y + title.height / 2 + 4, { steps: 8 });
  await page.mouse.up();
  await expect(status).toHaveAttribute('data-state', 'saved');
  expect(await grids()).toEqual({ [right]: { x: 0, y: 0, w: 12, h: 8 }, [left]: { x: 0, y: 8, w: 12, h: 8 } });

  // Widen "Left" by its corner to the full width, and one row taller.
  await page.reload();
  const handle = (await page.locator(`[data-cell="${left}"] .resize-handle`).boundingBox())!;
  await page.mouse.move(handle.x + 7, handle.y + 7);
  await page.mouse.down();
  await page.mouse.move(handle.x + 7 + 12 * column, handle.y + 7 + 44, { steps: 8 });
  await page.mouse.up();
  await expect(status).toHaveAttribute('data-state', 'saved');
  expect((await grids())[left]).toEqual({ x: 0, y: 8, w: 24, h: 9 });
  await page.reload();
  const box = (await page.locator(`[data-cell="${left}"]`).boundingBox())!;
  expect(box.width).toBeGreaterThan(grid.width * 0.95);

  // Removing the panel above lets Left rise into the gap: the grid has gravity.
  await page.getByRole('button', { name: 'Remove panel Right' }).click();
  await expect(page.locator('.dashboard-cell')).toHaveCount(1);
  expect(await grids()).toEqual({ [left]: { x: 0, y: 0, w: 24, h: 9 } });
  expect(errors).toEqual([]);
});
