import { expect, test } from '@playwright/test';
import { collectErrors, hex, ingest, signIn, startShop } from '../support/actions';
import { ingestKey } from '../playwright.config';

declare const Osprey: {
  init(o: Record<string, unknown>): void;
  flush(): void;
  stats(): { queued: number; sent: number; dropped: number };
};


test('errors thrown in a page through the browser SDK are grouped into one issue that can be resolved', async ({ page }) => {
  const errors = collectErrors(page);
  const marker = `Checkout${Date.now()}Error`;
  // A page loads the SDK as a monitored site would, then throws twice from the
  // same function (the messages differ in a number, which must not split the issue).
  // A customer's site on another origin, loading the SDK from Osprey (CORS lets it read answers).
  const shop = await startShop();
  await page.goto(shop.url);
  await page.addScriptTag({ url: `${test.info().project.use.baseURL}/sdk/osprey.js` });
  await page.evaluate(({ key, marker }) => {
    Osprey.init({ key, service: 'shop-e2e', release: '3.1.0', flushInterval: 600_000 });
    function addToCart(n: number) {
      const e = new Error(`item ${n} is out of stock`);
      e.name = marker;
      throw e;
    }
    for (const n of [41, 42]) {
      setTimeout(() => addToCart(n), 0);
    }
  }, { key: ingestKey, marker });
  // Once both uncaught errors reached the SDK's handlers (after the page view), send them, and
  // leave the page only when Osprey has answered.
  await page.waitForFunction(() => Osprey.stats().queued >= 3);
  await page.evaluate(() => Osprey.flush());
  await page.waitForFunction(() => Osprey.stats().sent >= 3);

  await expect.poll(async () => {
    await page.goto(`/errors?q=${marker}`);
    return page.getByTestId('issue-row').count();
  }, { timeout: 20_000 }).toBe(1);
  const row = page.getByTestId('issue-row');
  await expect(row.locator('td.num').first()).toHaveText('2');
  await row.getByRole('link').click();
  await expect(page.getByRole('heading', { level: 1 })).toContainText(marker);
  await expect(page.locator('.stacktrace li').first()).toContainText('addToCart');
  await expect(page.getByTestId('issue-status')).toHaveText('unresolved');

  // Only editors change an issue: sign in, resolve it, and it leaves the unresolved list.
  const issueUrl = new URL(page.url()).pathname;
  await signIn(page, issueUrl);
  await page.getByRole('button', { name: 'Resolve' }).click();
  await expect(page.getByTestId('issue-status')).toHaveText('resolved');
  await page.goto(`/errors?q=${marker}`);
  await expect(page.getByTestId('issue-row')).toHaveCount(0);
  await page.goto(`/errors?q=${marker}&status=resolved`);
  await expect(page.getByTestId('issue-row')).toHaveCount(1);
  // Uncaught errors were thrown on purpose in the shop's page; nothing else may have failed.
  expect(errors.filter((e) => !e.includes(marker))).toEqual([]);
  await shop.close();
});

test('a trace opens as a waterfall with its logs, and logs are searchable', async ({ page, request }) => {
  const errors = collectErrors(page);
  const trace = hex(32);
  const [root, child, grandchild] = [hex(16), hex(16), hex(16)];
  const now = Date.now();
  const word = `needle${now}`;
  const edge = `edge-${now}`;
  const res = await ingest(request, {
    context: { service: edge },
    spans: [
      { trace_id: trace, span_id: root, name: 'GET /basket', start: now - 500, duration_ms: 400, status: 'ok', attributes: { 'http.route': '/basket' } },
      { trace_id: trace, span_id: child, parent_span_id: root, name: 'load basket', start: now - 480, duration_ms: 300, status: 'error' },
      { trace_id: trace, span_id: grandchild, parent_span_id: child, name: 'SELECT items', start: now - 470, duration_ms: 20, status: 'ok' },
    ],
    logs: [
      { timestamp: now - 450, severity: 'error', body: `basket ${word} failed`, trace_id: trace, span_id: child },
      { timestamp: now - 440, severity: 'info', body: `unrelated ${word}` },
    ],
  });
  expect(res.status()).toBe(202);

  await page.goto(`/traces?service=${edge}&status=error`);
  await expect(page.getByTestId('trace-row')).toHaveCount(1);
  // Per-service figures come from entry spans: the root succeeded (only its child failed).
  const service = page.getByTestId('service-row').filter({ hasText: edge });
  await expect(service).toContainText('0.00 %');
  await expect(service).toContainText('400 ms');
  await page.getByTestId('trace-row').getByRole('link').click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('GET /basket');
  const rows = page.getByTestId('span-row');
  await expect(rows).toHaveCount(3);
  // Parents come before children, and the chain that ended last is the critical path.
  await expect(rows.nth(1)).toContainText('load basket');
  await expect(rows.nth(2)).toContainText('SELECT items');
  await expect(rows.locator('.wf-bar.critical')).toHaveCount(3);
  await rows.nth(0).locator('summary').click();
  await expect(rows.nth(0).locator('.span-details')).toContainText('/basket');
  await expect(page.locator('table.logs')).toContainText(`basket ${word} failed`);

  await page.goto(`/logs?q=${word}&severity=warn`);
  await expect(page.getByTestId('log-row')).toHaveCount(1);
  await expect(page.getByTestId('log-row')).toContainText(edge);
  await page.goto(`/logs?q=${word}`);
  await expect(page.getByTestId('log-row')).toHaveCount(2);
  expect(errors).toEqual([]);
});

test("the dashboard reports its own page views through the browser SDK", async ({ page, request }) => {
  await page.goto('/errors');
  await page.evaluate(() => Osprey.flush());
  await expect.poll(async () => {
    const res = await request.get('/api/v1/events?name=page_view&limit=1000');
    const events: { labels: Record<string, string>; properties: Record<string, string> }[] = (await res.json()).events;
    return events.some((e) => e.labels.service === 'osprey-dashboard' && e.properties.path === '/errors');
  }, { timeout: 20_000 }).toBe(true);
});

test('the Logs page tails new records that match its filters', async ({ page, request }) => {
  const errors = collectErrors(page);
  const service = `tail-${Date.now()}`;
  await page.goto(`/logs?service=${service}&severity=warn`);
  const toggle = page.getByRole('button', { name: 'Live tail' });
  await toggle.click();
  await expect(page.locator('.log-tail .live-toggle')).toHaveAttribute('data-status', 'live');
  const now = Date.now();
  const sent = await ingest(request, {
    context: { service },
    logs: [
      { timestamp: now, severity: 'error', body: 'payment provider timed out' },
      { timestamp: now, severity: 'info', body: 'request served' },
    ],
  });
  expect(sent.status()).toBe(202);
  const rows = page.locator('.log-tail-lines [data-testid="log-row"]');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText('payment provider timed out');
  await expect(rows.first()).toContainText(service);
  // Paused: nothing more arrives.
  await page.locator('.log-tail .live-toggle').click();
  await expect(page.locator('.log-tail .live-toggle')).toHaveAttribute('data-status', 'off');
  expect(errors).toEqual([]);
});

test('a trace of 10 000 spans opens whole, and a deep span unfolds its details', async ({ page, request }) => {
  const errors = collectErrors(page);
  const trace = hex(32);
  const now = Date.now() - 60_000;
  // A root with 99 children, each with 100 children of its own: 10 000 spans, three levels.
  const spans: unknown[] = [];
  const id = (n: number) => n.toString(16).padStart(16, '0');
  spans.push({ trace_id: trace, span_id: id(1), name: 'GET /big', start: now, duration_ms: 5_000, status: 'ok' });
  for (let c = 0; c < 99; c++) {
    const child = 2 + c * 101;
    spans.push({ trace_id: trace, span_id: id(child), parent_span_id: id(1), name: `step ${c}`, start: now + c * 50, duration_ms: 49, status: 'ok' });
    for (let g = 0; g < 100; g++) {
      if (spans.length === 10_000) break;
      spans.push({ trace_id: trace, span_id: id(child + 1 + g), parent_span_id: id(child), name: `query ${c}.${g}`, start: now + c * 50 + g * 0.4, duration_ms: 0.3, status: 'ok' });
    }
  }
  expect(spans.length).toBe(10_000);
  const res = await ingest(request, { context: { service: 'big-trace' }, spans });
  expect(res.status()).toBe(202);

  await page.goto(`/traces/${trace}`);
  const rows = page.getByTestId('span-row');
  await expect(rows).toHaveCount(10_000);
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    return { ttfb: nav.responseStart, domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, bytes: nav.encodedBodySize };
  });
  test.info().annotations.push({ type: 'timing', description: JSON.stringify(timing) });
  console.log(`10 000-span trace page: ${JSON.stringify(timing)}`);
  const deep = rows.filter({ hasText: 'query 98.99' });
  await deep.locator('summary').click();
  await expect(deep.locator('.span-details')).toBeVisible();
  expect(errors).toEqual([]);
});
