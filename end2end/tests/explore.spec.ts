import { expect, test, type Locator, type Page } from '@playwright/test';
import { collectErrors, hex, ingest, signIn } from '../support/actions';
import { screenColours } from '../support/checks';

// The 3-D views run on both GPU paths: the `webgpu` project starts Chromium with WebGPU on
// SwiftShader, the default one has no WebGPU adapter, so wgpu falls back to WebGL2.
const backend = () => (test.info().project.name === 'webgpu' ? 'WebGPU' : 'WebGL2');


/** Requests of three services over the last half hour, as entry spans. */
async function sendRequests(page: Page) {
  const now = Date.now();
  for (const [service, median, errorRate] of [['map-web', 40, 0.01], ['map-checkout', 180, 0.2], ['map-search', 12, 0]] as const) {
    const spans = Array.from({ length: 400 }, (_, i) => ({
      trace_id: hex(32), span_id: hex(16), parent_span_id: null, name: `GET /${service}`,
      start: now - 1_800_000 + i * 4_500, duration_ms: median * Math.exp(Math.sin(i) * 0.8),
      status: i / 400 < errorRate ? 'error' : 'ok', attributes: {},
    }));
    const res = await ingest(page.request, { context: { service }, spans });
    expect(res.status()).toBe(202);
  }
}

const view = (page: Page) => page.getByTestId('gpu-view');

async function expectDrawn(page: Page, kind: 'surface' | 'map' | 'heatmap' | 'scatter') {
  await expect(view(page)).toHaveAttribute('data-kind', kind);
  await expect(view(page)).toHaveAttribute('data-status', backend(), { timeout: 20_000 });
  await expect(page.locator('.gpu-canvas')).toHaveAttribute('data-frames', /^[1-9]\d*$/);
}

/** Orbits by dragging across `canvas`: new frames are drawn and `label` moves with the scene. */
async function expectOrbit(page: Page, canvas: Locator, label: Locator) {
  const before = await label.boundingBox();
  const frames = Number(await canvas.getAttribute('data-frames'));
  const box = (await canvas.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 + 140, box.y + box.height / 2 + 35, { steps: 8 });
  await page.mouse.up();
  await expect.poll(async () => Number(await canvas.getAttribute('data-frames'))).toBeGreaterThan(frames);
  await expect.poll(async () => (await label.boundingBox())?.x).not.toBe(before?.x);
}

/** The colours of the canvas alone, with the labels over it hidden while it is read. */
async function canvasColours(page: Page) {
  await page.locator('.gpu-labels').evaluate((el: HTMLElement) => { el.style.visibility = 'hidden'; });
  const n = await screenColours(page, page.locator('.gpu-canvas'));
  await page.locator('.gpu-labels').evaluate((el: HTMLElement) => { el.style.visibility = ''; });
  return n;
}

test('the Overview does not download the 3-D chunk; the 3-D page does', async ({ page }) => {
  const wasm: string[] = [];
  page.on('request', (r) => { if (r.url().endsWith('.wasm')) wasm.push(new URL(r.url()).pathname); });
  await page.goto('/');
  await expect(page.locator('.chart-box.hydrated').first()).toBeVisible();
  expect(wasm).toContain('/pkg/osprey_bg.wasm');
  expect(wasm.filter((p) => /split_|chunk_/.test(p)), 'Overview fetched a lazy chunk').toEqual([]);
  await signIn(page, '/explore');
  await expectDrawn(page, 'surface');
  expect(wasm.filter((p) => /split_explorer/.test(p))).toHaveLength(1);
});

test('the latency surface draws requests sent as spans, and orbits and zooms', async ({ page }) => {
  const errors = collectErrors(page);
  await sendRequests(page);
  await signIn(page, '/explore?range=1h');
  await expectDrawn(page, 'surface');
  await expect(page.getByTestId('gpu-backend')).toHaveText(backend());
  const requests = Number((await page.locator('figcaption').innerText()).match(/(\d+) requests/)![1]);
  expect(requests, 'the 1 200 requests sent, and the demo ones').toBeGreaterThanOrEqual(1200);
  const canvas = page.locator('.gpu-canvas');
  expect(await canvasColours(page), 'the surface is blank').toBeGreaterThan(40);
  await expectOrbit(page, canvas, page.locator('.gpu-label.x').first());
  // Zoom: the wheel moves the camera in, so the labels spread apart.
  const spread = async () => {
    const xs = await page.locator('.gpu-label.x').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().x));
    return Math.abs(xs[1] - xs[0]);
  };
  const wide = await spread();
  await page.mouse.wheel(0, -600);
  await expect.poll(spread).toBeGreaterThan(wide);
  expect(errors).toEqual([]);
});

test('the service map places services by traffic, latency and errors, and names the one under the pointer', async ({ page }) => {
  const errors = collectErrors(page);
  await sendRequests(page);
  await signIn(page, '/explore?range=1h');
  await expectDrawn(page, 'surface');
  await page.getByRole('tab', { name: 'Service map' }).click();
  await expectDrawn(page, 'map');
  await expect(page).toHaveURL(/view=map/);
  const canvas = page.locator('.gpu-canvas');
  await expect(canvas).toHaveAttribute('data-marks', /map-checkout/);
  const marks: [string, number, number][] = JSON.parse((await canvas.getAttribute('data-marks'))!);
  const [, x, y] = marks.find(([name]) => name === 'map-checkout')!;
  const box = (await canvas.boundingBox())!;
  await page.mouse.move(box.x + x + 2, box.y + y - 1);
  const tip = page.getByTestId('gpu-tip');
  await expect(tip).toContainText('map-checkout');
  await expect(tip).toContainText('20.0 %');
  await page.mouse.move(box.x + 3, box.y + 3);
  await expect(tip).toHaveCount(0);
  // A reload keeps the view the URL names.
  await page.reload();
  await expectDrawn(page, 'map');
  expect(errors).toEqual([]);
});

const ticks = (page: Page) => page.locator('.gpu-label.x').allInnerTexts();

test('the latency heatmap is the surface from above, and pans and zooms', async ({ page }) => {
  const errors = collectErrors(page);
  await sendRequests(page);
  await signIn(page, '/explore?view=heatmap');
  await expectDrawn(page, 'heatmap');
  expect(await canvasColours(page), 'the heatmap is blank').toBeGreaterThan(20);
  const canvas = page.locator('.gpu-canvas');
  const box = (await canvas.boundingBox())!;
  const before = await ticks(page);
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 - 200, box.y + box.height / 2, { steps: 6 });
  await page.mouse.up();
  await expect.poll(() => ticks(page), 'panning moves the time axis').not.toEqual(before);
  const panned = await ticks(page);
  await page.mouse.wheel(0, -500);
  await expect.poll(() => ticks(page), 'zooming changes the time axis').not.toEqual(panned);
  expect(errors).toEqual([]);
});

test('the span scatter draws every span, and a brushed region lists its slowest spans', async ({ page }) => {
  const errors = collectErrors(page);
  await sendRequests(page);
  await signIn(page, '/explore?range=1h');
  await expectDrawn(page, 'surface'); // hydrated: the tabs answer clicks
  await page.getByRole('tab', { name: 'Span scatter' }).click();
  await expectDrawn(page, 'scatter');
  const canvas = page.locator('.gpu-canvas');
  await expect(canvas).toHaveAttribute('data-points', /^\d+$/);
  expect(Number(await canvas.getAttribute('data-points'))).toBeGreaterThanOrEqual(1200);
  expect(await canvasColours(page), 'the scatter is blank').toBeGreaterThan(10);
  // Shift-drag across the whole plot: its slowest spans are listed, slowest first, and open
  // their traces.
  const box = (await canvas.boundingBox())!;
  await page.keyboard.down('Shift');
  await page.mouse.move(box.x + 2, box.y + 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width - 2, box.y + box.height - 2, { steps: 6 });
  await page.mouse.up();
  await page.keyboard.up('Shift');
  const rows = page.getByTestId('span-hits').locator('tbody tr');
  await expect(rows).toHaveCount(50);
  const ms = await rows.locator('td.num').allInnerTexts();
  const values = ms.map((t) => parseFloat(t));
  expect(values).toEqual([...values].sort((a, b) => b - a));
  // Brushing only the fast half of the plot lists faster spans than the slowest above.
  await page.keyboard.down('Shift');
  await page.mouse.move(box.x + 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width - 2, box.y + box.height - 2, { steps: 6 });
  await page.mouse.up();
  await page.keyboard.up('Shift');
  await expect.poll(async () => parseFloat(await rows.first().locator('td.num').innerText())).toBeLessThan(values[0]);
  await rows.first().locator('a').click();
  await expect(page).toHaveURL(/\/traces\/[0-9a-f]{32}/);
  expect(errors).toEqual([]);
});

test('a scatter of more spans than are drawn one by one shows their density, and points again zoomed in', async ({ page }) => {
  test.setTimeout(150_000);
  const errors = collectErrors(page);
  const service = `dense-${Date.now()}`;
  const now = Date.now();
  // 120 000 spans over the last 20 minutes, one every 10 ms, every 50th failed. Each has a
  // parent, so the latency surface (entry spans) of the other tests is unchanged.
  for (let b = 0; b < 24; b++) {
    const spans = Array.from({ length: 5_000 }, (_, j) => {
      const i = b * 5_000 + j;
      return {
        trace_id: hex(32), span_id: hex(16), parent_span_id: 'f00dfeedf00dfeed', name: 'GET /dense',
        start: now - 1_200_000 + i * 10, duration_ms: 5 + 50 * ((i * 7_919) % 1_000) / 1_000,
        status: i % 50 === 0 ? 'error' : 'ok', attributes: {},
      };
    });
    expect((await ingest(page.request, { context: { service }, spans })).status()).toBe(202);
  }
  await signIn(page, `/explore?view=scatter&range=1h&service=${service}`);
  await expectDrawn(page, 'scatter');
  const canvas = page.locator('.gpu-canvas');
  await expect(canvas).toHaveAttribute('data-points', '120000');
  await expect(canvas).toHaveAttribute('data-mode', 'density');
  await expect(canvas).toHaveAttribute('data-drawn', '120000');
  expect(await canvasColours(page), 'the density is blank').toBeGreaterThan(20);
  // Zoom in on the spans (the last third of the hour) until fewer than 100 000 are near.
  const box = (await canvas.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.83, box.y + box.height / 2);
  for (let i = 0; i < 3; i++) await page.mouse.wheel(0, -800);
  await expect(canvas).toHaveAttribute('data-mode', 'points');
  const drawn = Number(await canvas.getAttribute('data-drawn'));
  expect(drawn).toBeGreaterThan(1_000);
  expect(drawn).toBeLessThanOrEqual(100_000);
  // Zooming back out brings the density back.
  for (let i = 0; i < 3; i++) await page.mouse.wheel(0, 800);
  await expect(canvas).toHaveAttribute('data-mode', 'density');
  expect(errors).toEqual([]);
});

test('a dashboard panel drawn in 3-D shows each series as a ridge, orbits, and fetches only its own chunk', async ({ page, request }) => {
  const errors = collectErrors(page);
  const wasm: string[] = [];
  page.on('request', (r) => { if (r.url().endsWith('.wasm')) wasm.push(new URL(r.url()).pathname); });
  await signIn(page, '/dashboards');
  const metric = `e2e.depth3d_${Date.now()}`;
  const now = Date.now();
  const metrics = ['api', 'checkout', 'web'].flatMap((service, s) =>
    Array.from({ length: 20 }, (_, i) => ({
      timestamp: now - (20 - i) * 60_000, name: metric, value: (s + 1) * 10 + 5 * Math.sin(i / 3), labels: { service },
    })));
  expect((await ingest(request, { metrics })).status()).toBe(202);
  const created = await page.request.post('/api/v1/dashboards', {
    headers: { origin: new URL(page.url()).origin },
    data: {
      title: `Depth in 3-D ${now}`,
      time: { from: 'now-30m', to: 'now' },
      panels: [
        { title: 'Depth by service', query: { metric, agg: 'max', group_by: ['service'] }, viz: 'surface', grid: { x: 0, y: 0, w: 16, h: 10 } },
        // Far below the first screen: a 3-D panel still comes with the page.
        { title: 'Depth, total', query: { metric, agg: 'sum' }, viz: 'surface', grid: { x: 0, y: 40, w: 12, h: 8 } },
      ],
    },
  });
  expect(created.status()).toBe(201);
  const { id, panels } = await created.json();
  await page.goto(`/dashboards/${id}`);
  const panel = page.locator(`section.panel[data-panel="${panels[0].id}"]`);
  await expect(panel).toHaveAttribute('data-viz', 'surface');
  const gpu = panel.getByTestId('gpu-view');
  await expect(gpu).toHaveAttribute('data-kind', 'series');
  await expect(gpu).toHaveAttribute('data-status', backend(), { timeout: 20_000 });
  const canvas = panel.locator('.gpu-canvas');
  await expect(canvas).toHaveAttribute('data-frames', /^[1-9]\d*$/);
  await expect(panel.locator('figcaption')).toContainText('3 series');
  for (const service of ['api', 'checkout', 'web']) await expect(panel.locator('.gpu-label', { hasText: service })).toHaveCount(1);
  // The floor and the top are labelled with the smallest and largest value drawn.
  await expect(panel.locator('.gpu-label.axis')).toHaveCount(3);
  // The second panel, below the fold, is drawn as well: its own canvas and context.
  const total = page.locator(`section.panel[data-panel="${panels[1].id}"]`);
  await total.scrollIntoViewIfNeeded();
  await expect(total.locator('.gpu-canvas')).toHaveAttribute('data-frames', /^[1-9]\d*$/, { timeout: 20_000 });
  await panel.scrollIntoViewIfNeeded();
  await expectOrbit(page, canvas, panel.locator('.gpu-label.x').first());
  // The 3-D panel's chunk (and the GPU code it shares) came; the Explore page's did not.
  expect(wasm.filter((p) => /split_panel_surface/.test(p))).toHaveLength(1);
  expect(wasm.filter((p) => /split_explorer/.test(p))).toEqual([]);
  expect(errors).toEqual([]);
});

test('3-D views are torn down explicitly: 30 visits and 30 view switches leave no contexts or heap behind', async ({ page }) => {
  test.setTimeout(180_000);
  const messages: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error' || /WebGL context|CONTEXT_LOST/i.test(m.text())) messages.push(`${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => messages.push(String(e)));
  await sendRequests(page);
  await signIn(page, '/explore');
  for (let i = 0; i < 30; i++) {
    await page.goto('/explore');
    await expectDrawn(page, 'surface');
    await page.goto('/');
  }
  await page.goto('/explore');
  await expectDrawn(page, 'surface');
  const cdp = await page.context().newCDPSession(page);
  const heap = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    return (await cdp.send('Runtime.getHeapUsage')).usedSize;
  };
  const tabs = [['Service map', 'map'], ['Latency heatmap', 'heatmap'], ['Span scatter', 'scatter'], ['Latency surface', 'surface']] as const;
  const switchViews = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const [name, kind] = tabs[i % tabs.length];
      await page.getByRole('tab', { name }).click();
      await expectDrawn(page, kind);
    }
  };
  // Each switch unmounts one GPU view and mounts another (a new canvas, device and context).
  // Chromium keeps at most 16 WebGL contexts and warns when it must drop one: without the
  // explicit teardown the 17th mount would say so.
  await switchViews(4);
  const warm = await heap();
  await switchViews(30);
  const after = await heap();
  expect(messages).toEqual([]);
  // A mounted view holds a canvas, a GPU context, closures and a few hundred label nodes:
  // leaking each of 30 would add megabytes. 1 MiB leaves room for the allocator's and the
  // console's noise (measured growth is recorded in BENCHMARKS.md).
  console.log(`3-D heap: ${warm} -> ${after} bytes after 30 switches (${backend()})`);
  expect(after - warm).toBeLessThan(1 << 20);
});
