import { expect, test, type Page, type Request, type Route } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ingestKey } from '../playwright.config';
import { startShop } from '../support/actions';

// The browser SDK (public/sdk/osprey.js) on a fake shop at http://shop.test, every request of
// which page.route answers: the SDK, the fixture pages and the ingest endpoint, so these tests
// see exactly what the SDK sends and decide what the "server" answers.

const sdkDir = join(__dirname, '..', '..', 'public', 'sdk');
const fixture = (name: string) => readFileSync(join(__dirname, '..', 'fixtures', name), 'utf8');
const SHOP = 'http://shop.test';

type Frame = { function?: string; file: string; line: number; column: number };
type Batch = {
  context: Record<string, string>;
  events?: { timestamp: number; name: string; properties: Record<string, unknown> }[];
  metrics?: { timestamp: number; name: string; value: number; kind: string; labels: Record<string, string> }[];
  errors?: { timestamp: number; type: string; message: string; stacktrace: Frame[]; tags: Record<string, string> }[];
};
type Sent = { batch: Batch; request: Request; status: number; at: number };
type Answer = number | { status: number; headers: Record<string, string> };

// ---- actions -------------------------------------------------------------------------------

/** Serves the shop and records every ingest request; `answer(n)` is the status of the n-th (1-based). */
async function openShop(
  page: Page,
  options: Record<string, unknown> | null = {},
  { answer = () => 202, path = '/', html = 'shop.html' }: { answer?: (n: number) => Answer; path?: string; html?: string } = {},
): Promise<Sent[]> {
  const sent: Sent[] = [];
  const sdk = readFileSync(join(sdkDir, 'osprey.js'), 'utf8');
  await page.route(`${SHOP}/**`, async (route: Route) => {
    const request = route.request();
    const url = new URL(request.url());
    if (url.pathname === '/api/v1/ingest') {
      const a = answer(sent.length + 1);
      const { status, headers } = typeof a === 'number' ? { status: a, headers: {} } : a;
      sent.push({ batch: JSON.parse(request.postData() ?? '{}'), request, status, at: Date.now() });
      const body = status === 202 ? '{"accepted":{}}' : '{"error":{"code":"refused","message":"refused"}}';
      return route.fulfill({ status, headers, contentType: 'application/json', body });
    }
    if (url.pathname === '/sdk/osprey.js') return route.fulfill({ contentType: 'text/javascript', body: sdk });
    if (url.pathname === '/app.js') return route.fulfill({ contentType: 'text/javascript', body: fixture('app.js') });
    if (url.pathname === '/favicon.ico') return route.fulfill({ status: 404 });
    return route.fulfill({ contentType: 'text/html', body: fixture(html) });
  });
  await page.addInitScript((o) => { (window as unknown as { __osprey: unknown }).__osprey = o; }, options);
  await page.goto(SHOP + path);
  return sent;
}

/** What a tab switch or closing the tab does, as far as the page can tell. */
async function hidePage(page: Page) {
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
}

declare const Osprey: {
  init(o: Record<string, unknown>): void;
  event(name: string, props?: Record<string, unknown>): void;
  metric(name: string, value: number, labels?: Record<string, string>): void;
  error(err: unknown, tags?: Record<string, string>): void;
  setUser(id: string | null): void;
  stats(): { queued: number; sent: number; dropped: number };
};
declare const shop: { crash(): void; reject(): void; rejectPlain(): void; caught(): void };

// ---- checks --------------------------------------------------------------------------------

const events = (sent: Sent[]) => sent.flatMap((s) => s.batch.events ?? []);
const eventNames = (sent: Sent[]) => events(sent).map((e) => e.name);
const errors = (sent: Sent[]) => sent.flatMap((s) => s.batch.errors ?? []);
const metrics = (sent: Sent[]) => sent.flatMap((s) => s.batch.metrics ?? []);

// ---- tests ---------------------------------------------------------------------------------

test.describe('browser sdk', () => {
  test('uncaught errors, unhandled rejections and Osprey.error arrive with parsed frames', async ({ page }) => {
    const sent = await openShop(page, { flushInterval: 100 });
    await page.evaluate(() => { shop.crash(); shop.reject(); shop.rejectPlain(); shop.caught(); });
    await expect.poll(() => errors(sent).length).toBe(4);
    const byType = Object.fromEntries(errors(sent).map((e) => [e.message, e]));

    const crash = errors(sent).find((e) => e.type === 'TypeError')!;
    expect(crash.message).toContain('amount');
    expect(crash.tags).toEqual({ page: '/', mechanism: 'onerror' });
    expect(crash.stacktrace[0]).toEqual({ function: 'addToCart', file: `${SHOP}/app.js`, line: 3, column: expect.any(Number) });
    expect(crash.stacktrace[1]).toMatchObject({ function: 'crashLater', file: `${SHOP}/app.js`, line: 9 });

    const rejected = byType['payment declined'];
    expect(rejected).toMatchObject({ type: 'RangeError', tags: { mechanism: 'unhandledrejection' } });
    expect(rejected.stacktrace[0]).toMatchObject({ file: `${SHOP}/app.js`, line: 10 });

    expect(byType['{"code":42}']).toMatchObject({ type: 'UnhandledRejection', stacktrace: [] });

    const caught = byType['checkout failed'];
    expect(caught).toMatchObject({ type: 'Error', tags: { page: '/', step: 'pay' } });
    expect(caught.stacktrace.slice(0, 2).map((f) => [f.function, f.file, f.line])).toEqual([
      ['checkout', `${SHOP}/app.js`, 6],
      ['Object.caught', `${SHOP}/app.js`, 12],
    ]);
    for (const e of errors(sent)) expect(Math.abs(e.timestamp - Date.now())).toBeLessThan(60_000);
  });

  test('Firefox and Safari stack traces are parsed too', async ({ page }) => {
    const sent = await openShop(page, { flushInterval: 100 });
    await page.evaluate(() => Osprey.error({
      name: 'TypeError',
      message: 'item is undefined',
      stack: 'addToCart@http://shop.test/app.js:3:15\ncrashLater/<@http://shop.test/app.js:9:50\n@http://shop.test/app.js:20:1\n[native code]',
    }));
    await expect.poll(() => errors(sent).length).toBe(1);
    expect(errors(sent)[0].stacktrace).toEqual([
      { function: 'addToCart', file: `${SHOP}/app.js`, line: 3, column: 15 },
      { function: 'crashLater/<', file: `${SHOP}/app.js`, line: 9, column: 50 },
      { file: `${SHOP}/app.js`, line: 20, column: 1 },
    ]);
  });

  test('an error thrown in a loop is sent once per burst', async ({ page }) => {
    const sent = await openShop(page, { flushInterval: 100 });
    await page.evaluate(() => { for (let i = 0; i < 20; i++) shop.caught(); Osprey.event('after_loop'); });
    await expect.poll(() => eventNames(sent)).toContain('after_loop');
    expect(errors(sent).map((e) => e.message)).toEqual(['checkout failed']);
  });

  test('page views on load and on SPA navigations, with context', async ({ page }) => {
    const sent = await openShop(page, { flushInterval: 100, user: 'u-9' });
    await expect.poll(() => eventNames(sent)).toEqual(['page_view']);
    expect(events(sent)[0].properties).toEqual({ path: '/', title: 'Shop home', referrer: '' });
    const context = sent[0].batch.context;
    expect(context).toMatchObject({ service: 'shop', environment: 'test', release: '1.0.0', user_id: 'u-9' });
    expect(context.session_id).toMatch(/^[0-9a-f]{32}$/);

    await page.evaluate(() => { document.title = 'Cart'; history.pushState({}, '', '/cart?step=1'); history.replaceState({}, '', '/cart?step=1'); });
    await expect.poll(() => events(sent).length).toBe(2);
    expect(events(sent)[1].properties).toEqual({ path: '/cart', title: 'Cart', referrer: `${SHOP}/` });

    await page.goBack({ waitUntil: 'commit' });
    await expect.poll(() => events(sent).map((e) => e.properties.path)).toEqual(['/', '/cart', '/']);
    // The session survives a reload; the page view after it carries the same session id.
    await page.reload();
    await expect.poll(() => events(sent).length).toBe(4);
    expect(sent.at(-1)!.batch.context.session_id).toBe(context.session_id);
  });

  test('custom events and metrics are batched into one request', async ({ page }) => {
    const sent = await openShop(page, { flushInterval: 600_000 });
    await page.evaluate(() => {
      Osprey.setUser('u-1');
      Osprey.event('add_to_cart', { sku: 'A-1', amount: 42.5 });
      Osprey.event('add_to_cart', { sku: 'B-2', amount: 7 });
      Osprey.event('checkout');
      Osprey.metric('cart.size', 2, { currency: 'EUR' });
      Osprey.metric('not.a.number', NaN);
      Osprey.flush();
    });
    await expect.poll(() => sent.length).toBe(1);
    const { batch } = sent[0];
    expect(batch.events!.map((e) => [e.name, e.properties])).toEqual([
      ['page_view', { path: '/', title: 'Shop home', referrer: '' }],
      ['add_to_cart', { sku: 'A-1', amount: 42.5 }],
      ['add_to_cart', { sku: 'B-2', amount: 7 }],
      ['checkout', {}],
    ]);
    expect(batch.metrics).toEqual([{ timestamp: expect.any(Number), name: 'cart.size', value: 2, kind: 'gauge', labels: { currency: 'EUR' } }]);
    expect(batch.context.user_id).toBe('u-1');
    expect(sent[0].request.headers()['content-type']).toMatch(/^text\/plain/);
    expect(new URL(sent[0].request.url()).searchParams.get('key')).toBe('shop-key');
  });

  test('a full batch is sent at once without waiting for the interval', async ({ page }) => {
    const sent = await openShop(page, { flushInterval: 600_000, maxBatch: 3 });
    await page.evaluate(() => { Osprey.event('one'); Osprey.event('two'); Osprey.event('three'); });
    await expect.poll(() => sent.length).toBe(1);
    expect(eventNames(sent)).toEqual(['page_view', 'one', 'two']);
    expect(await page.evaluate(() => Osprey.stats().queued)).toBe(1);
  });

  test('hiding the page sends the queue with sendBeacon', async ({ page }) => {
    await page.addInitScript(() => {
      const w = window as unknown as { __beacons: string[] };
      w.__beacons = [];
      const send = navigator.sendBeacon.bind(navigator);
      navigator.sendBeacon = (url, data) => { w.__beacons.push(String(url)); return send(url, data); };
    });
    const sent = await openShop(page, { flushInterval: 600_000 });
    await page.evaluate(() => Osprey.event('leaving', { cart: 3 }));
    expect(sent).toHaveLength(0);
    await hidePage(page);
    await expect.poll(() => eventNames(sent)).toEqual(['page_view', 'leaving']);
    // One beacon, naming its batch so a resend would not be stored twice.
    expect(await page.evaluate(() => (window as unknown as { __beacons: string[] }).__beacons)).toEqual([
      expect.stringMatching(/^http:\/\/shop\.test\/api\/v1\/ingest\?key=shop-key&batch=[0-9a-f]{32}$/),
    ]);
    expect(sent[0].request.headers()['content-type']).toMatch(/^text\/plain/);
    // pagehide right after finds nothing left to send
    await page.evaluate(() => dispatchEvent(new Event('pagehide')));
    await page.evaluate(() => Osprey.event('later'));
    await hidePage(page);
    await expect.poll(() => eventNames(sent)).toEqual(['page_view', 'leaving', 'later']);
  });

  test('navigating away flushes what is queued (a real pagehide)', async ({ page }) => {
    // Requests of a page being unloaded escape page.route, so a real local server plays the shop.
    const received: Batch[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (req.url!.startsWith('/api/v1/ingest')) {
          received.push(JSON.parse(body));
          return res.writeHead(202, { 'Content-Type': 'application/json' }).end('{}');
        }
        const js = req.url === '/sdk/osprey.js' ? readFileSync(join(sdkDir, 'osprey.js')) : req.url === '/app.js' ? fixture('app.js') : null;
        if (js) return res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(js);
        res.writeHead(200, { 'Content-Type': 'text/html' }).end(fixture('shop.html'));
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      await page.addInitScript(() => { (window as unknown as { __osprey: unknown }).__osprey = { flushInterval: 600_000 }; });
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await page.evaluate(() => Osprey.event('leaving_for_good'));
      await page.goto('about:blank');
      await expect.poll(() => received.flatMap((b) => b.events ?? []).map((e) => e.name)).toEqual(['page_view', 'leaving_for_good']);
    } finally {
      server.close();
    }
  });

  test('a 503 is retried with backoff, then nothing is sent twice', async ({ page }) => {
    // Sends only when told, so the page view and the event are one batch whatever the timing.
    const sent = await openShop(page, { flushInterval: 600_000 }, { answer: (n) => (n === 1 ? 503 : 202) });
    await page.evaluate(() => { Osprey.event('retry_me'); Osprey.flush(); });
    await expect.poll(() => sent.map((s) => s.status), { timeout: 15_000 }).toEqual([503, 202]);
    expect(sent[1].batch.events!.map((e) => e.name)).toEqual(['page_view', 'retry_me']);
    expect(sent[1].batch.events).toEqual(sent[0].batch.events);
    expect(sent[1].request.url()).toBe(sent[0].request.url()); // the same batch id: stored once
    await page.evaluate(() => { Osprey.event('next'); Osprey.flush(); });
    await expect.poll(() => sent.length).toBe(3);
    expect(eventNames([sent[2]])).toEqual(['next']);
    expect(sent[2].request.url()).not.toBe(sent[0].request.url()); // a new batch, a new id
    // The route saw the request; the page counts it once the answer is back.
    await expect.poll(() => page.evaluate(() => Osprey.stats())).toEqual({ queued: 0, sent: 3, dropped: 0 });
  });

  test('429 honours Retry-After', async ({ page }) => {
    const sent = await openShop(page, { flushInterval: 100 }, {
      answer: (n) => (n === 1 ? { status: 429, headers: { 'Retry-After': '2' } } : 202),
    });
    await expect.poll(() => sent.map((s) => s.status), { timeout: 15_000 }).toEqual([429, 202]);
    expect(sent[1].at - sent[0].at).toBeGreaterThanOrEqual(1900);
  });

  test('a 400 is not retried', async ({ page }) => {
    const sent = await openShop(page, { flushInterval: 600_000 }, { answer: (n) => (n === 1 ? 400 : 202) });
    await page.evaluate(() => Osprey.flush());
    await expect.poll(() => sent.length).toBe(1);
    await page.evaluate(() => { Osprey.event('after_refusal'); Osprey.flush(); });
    await expect.poll(() => sent.length).toBe(2);
    expect(eventNames([sent[1]])).toEqual(['after_refusal']);
    await expect.poll(() => page.evaluate(() => Osprey.stats())).toEqual({ queued: 0, sent: 1, dropped: 1 });
  });

  test('web vitals TTFB, FCP, LCP and CLS are reported when the page hides', async ({ page }) => {
    const sent = await openShop(page, { flushInterval: 100 });
    // wait until the browser has an LCP candidate, as a user would have looked at the page
    await page.evaluate(() => new Promise((done) => new PerformanceObserver(done).observe({ type: 'largest-contentful-paint', buffered: true })));
    await expect.poll(() => eventNames(sent)).toEqual(['page_view']);
    expect(metrics(sent)).toEqual([]);
    await hidePage(page);
    await expect.poll(() => metrics(sent).map((m) => m.name).sort()).toEqual(
      ['web_vitals.cls', 'web_vitals.fcp', 'web_vitals.lcp', 'web_vitals.ttfb'],
    );
    const byName = Object.fromEntries(metrics(sent).map((m) => [m.name, m]));
    for (const m of metrics(sent)) {
      expect(m).toMatchObject({ kind: 'gauge', labels: { page: '/' } });
      expect(m.value).toBeGreaterThanOrEqual(0);
    }
    expect(byName['web_vitals.ttfb'].value).toBeGreaterThan(0);
    expect(byName['web_vitals.lcp'].value).toBeGreaterThanOrEqual(byName['web_vitals.fcp'].value);
    expect(byName['web_vitals.cls'].value).toBe(0);
    // a second hide sends nothing new
    await page.evaluate(() => Osprey.event('marker'));
    await hidePage(page);
    await expect.poll(() => eventNames(sent)).toContain('marker');
    expect(metrics(sent)).toHaveLength(4);
  });

  test('INP comes from a slow interaction', async ({ page }) => {
    const sent = await openShop(page, { flushInterval: 100 });
    await page.evaluate(() => document.getElementById('buy')!.addEventListener('click', () => {
      const end = performance.now() + 120;
      while (performance.now() < end) { /* a slow handler */ }
    }));
    await page.click('#buy');
    await page.evaluate(() => new Promise((done) => new PerformanceObserver(done).observe({ type: 'event', buffered: true, durationThreshold: 16 } as PerformanceObserverInit)));
    await hidePage(page);
    await expect.poll(() => metrics(sent).map((m) => m.name)).toContain('web_vitals.inp');
    expect(metrics(sent).find((m) => m.name === 'web_vitals.inp')!.value).toBeGreaterThanOrEqual(100);
  });

  test('sampleRate 0 keeps errors and drops events, page views and vitals', async ({ page }) => {
    const sent = await openShop(page, { flushInterval: 100, sampleRate: 0 });
    await page.evaluate(() => { Osprey.event('unsampled'); Osprey.metric('m', 1); shop.caught(); });
    await expect.poll(() => sent.length).toBe(1);
    await hidePage(page);
    await page.evaluate(() => shop.crash());
    await expect.poll(() => errors(sent).length).toBe(2);
    expect(events(sent)).toEqual([]);
    expect(metrics(sent)).toEqual([]);
  });

  test('without a key the SDK stays off and never throws', async ({ page }) => {
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const sent = await openShop(page, { key: '' });
    const stats = await page.evaluate(() => {
      Osprey.event('ignored'); Osprey.metric('ignored', 1); Osprey.error(new Error('ignored')); Osprey.setUser('u');
      Osprey.event(undefined as never, { cyclic: window });
      return Osprey.stats();
    });
    await hidePage(page);
    expect(stats).toEqual({ queued: 0, sent: 0, dropped: 0 });
    expect(sent).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  test('hostile input is trimmed to what the server accepts', async ({ page }) => {
    const sent = await openShop(page, { flushInterval: 600_000 });
    await page.evaluate(() => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      Osprey.event('bad\nname'.repeat(100), cyclic);
      Osprey.event('many', Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i])));
      Osprey.metric('labels', 1, Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`l${i}`, 'v'.repeat(1000)])));
      Osprey.error(new Error('x'.repeat(10_000)));
      Osprey.flush();
    });
    await expect.poll(() => sent.length).toBe(1);
    const { batch } = sent[0];
    const [, bad, many] = batch.events!;
    expect(bad.name).not.toMatch(/\n/);
    expect(bad.name.length).toBeLessThanOrEqual(80);
    expect(bad.properties).toEqual({});
    expect(Object.keys(many.properties)).toHaveLength(32);
    expect(Object.keys(batch.metrics![0].labels)).toHaveLength(16);
    expect(batch.metrics![0].labels.l0).toHaveLength(80);
    expect(batch.errors![0].message).toHaveLength(1000);
  });

  test('auto-init from data attributes on the script tag', async ({ page }) => {
    const sent = await openShop(page, null, { html: 'auto.html', path: '/landing' });
    await expect.poll(() => eventNames(sent)).toEqual(['page_view']);
    expect(sent[0].batch.context).toMatchObject({ service: 'auto-shop', release: '2.0.0' });
    expect(events(sent)[0].properties).toMatchObject({ path: '/landing', title: 'Auto init' });
    // the endpoint defaults to where the script came from
    expect(sent[0].request.url()).toMatch(/^http:\/\/shop\.test\/api\/v1\/ingest\?key=shop-key&batch=[0-9a-f]{32}$/);
  });

  test('a cross-origin endpoint gets simple requests: no preflight', async ({ page }) => {
    const methods: string[] = [];
    const bodies: Batch[] = [];
    await page.route('http://osprey.test/**', (route) => {
      methods.push(route.request().method());
      if (route.request().method() === 'POST') bodies.push(JSON.parse(route.request().postData()!));
      return route.fulfill({ status: 202, headers: { 'Access-Control-Allow-Origin': '*' }, body: '{}' });
    });
    await openShop(page, { endpoint: 'http://osprey.test/', flushInterval: 100 });
    await page.evaluate(() => Osprey.event('cross'));
    await expect.poll(() => bodies.flatMap((b) => b.events ?? []).map((e) => e.name)).toEqual(['page_view', 'cross']);
    expect(methods.every((m) => m === 'POST')).toBe(true);
  });

  test('the SDK stays small: at most 5 KB gzipped, and built from its source', () => {
    const gzipped = gzipSync(readFileSync(join(sdkDir, 'osprey.js')), { level: 9 }).length;
    expect(gzipped).toBeLessThanOrEqual(5 * 1024);
    execFileSync(process.execPath, [join(sdkDir, 'minify.mjs'), '--check']);
  });
});

// Needs an osprey built with public/ embedded, which serves the SDK at /sdk/osprey.js.
test.describe('against osprey', () => {
  test('the SDK served by osprey delivers events that the events API returns', async ({ page, request }) => {
    const name = `sdk_e2e_${Date.now()}`;
    // A customer's site on another origin, loading the SDK from Osprey (CORS lets it read answers).
    const shop = await startShop();
    await page.goto(shop.url);
    await page.addScriptTag({ url: `${test.info().project.use.baseURL}/sdk/osprey.js` });
    await page.evaluate(({ key, name }) => {
      Osprey.init({ key, service: 'sdk-e2e', environment: 'e2e', flushInterval: 600_000 });
      Osprey.event(name, { step: 'pay', amount: 42.5 });
      Osprey.error(new TypeError(`${name} failed`), { step: 'pay' });
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    }, { key: ingestKey, name });
    // The event and the error went in one batch, and a batch is stored whole or not at all.
    await expect.poll(async () => {
      const res = await request.get(`/api/v1/events?name=${name}`);
      return res.ok() ? (await res.json()).events : res.status();
    }, { timeout: 20_000 }).toEqual([
      expect.objectContaining({ name, properties: { step: 'pay', amount: 42.5 }, labels: expect.objectContaining({ service: 'sdk-e2e', environment: 'e2e' }) }),
    ]);
    await shop.close();
  });
});
