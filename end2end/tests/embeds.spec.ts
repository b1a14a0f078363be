import { expect, test, type Page } from '@playwright/test';
import { port } from '../playwright.config';
import { collectErrors, signIn, startSite } from '../support/actions';

// Embeds are framed by pages of another origin: a host site on its own port.
const osprey = `http://127.0.0.1:${port}`;

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;');

/** A host page with one iframe per query parameter (`?a=/embed/…`), sized by the heights the
 * embeds report, as the Share dialog's snippet does. */
function hostPage(url: URL): string {
  const frames = [...url.searchParams]
    .map(([id, src]) => `<iframe id="${id}" src="${escapeAttr(osprey + src)}" width="1000" height="150" style="border:0"></iframe>`)
    .join('\n');
  return `<!doctype html><title>Intranet</title><h1>Intranet</h1>${frames}
<script>
  window.heights = {};
  addEventListener('message', (e) => {
    if (e.origin !== ${JSON.stringify(osprey)} || !e.data || e.data.type !== 'osprey:height') return;
    for (const f of document.querySelectorAll('iframe')) {
      if (f.contentWindow === e.source) { window.heights[f.id] = e.data.height; f.style.height = e.data.height + 'px'; }
    }
  });
</script>`;
}

type Made = { id: string; panels: { id: string }[] };

/** Signs in and makes a dashboard of three panels over the demo's data, once it is there. */
async function dashboard(page: Page): Promise<Made> {
  await signIn(page, '/dashboards');
  const created = await page.request.post('/api/v1/dashboards', {
    headers: { origin: osprey },
    data: {
      title: `Embedded ${Date.now()}`,
      variables: [{ name: 'service', label: 'service' }],
      panels: [
        { title: 'Requests', query: { metric: 'http.requests', agg: 'rate', group_by: ['service'] }, viz: 'line' },
        { title: 'p95 latency', query: { metric: 'http.latency_ms', agg: 'p95', group_by: ['service'], filter: { service: '$service' } }, viz: 'line' },
        { title: 'Sessions', query: { metric: 'sessions.active', agg: 'avg' }, viz: 'area' },
      ],
    },
  });
  expect(created.status()).toBe(201);
  await expect
    .poll(async () => {
      const r = await page.request.get('/api/v1/query_range?metric=http.latency_ms&agg=p95&group_by=service&from=now-1h');
      return (await r.json()).series?.length ?? 0;
    })
    .toBeGreaterThan(1);
  return created.json();
}

async function embedToken(page: Page, body: unknown): Promise<{ id: string; url: string; token: string }> {
  const r = await page.request.post('/api/v1/embed-tokens', { headers: { origin: osprey }, data: body });
  expect(r.status(), await r.text()).toBe(200);
  return r.json();
}

test('a panel and a multi-panel dashboard embed in another site, live, resized, and steered by postMessage', async ({ page }) => {
  const errors = collectErrors(page);
  const d = await dashboard(page);
  const host = await startSite(hostPage);
  const [requests, latency, sessions] = d.panels.map((p) => p.id);
  const one = await embedToken(page, { panels: [requests], expires_in: '1h', origins: [host.origin] });
  expect(one.url).toBe(`/embed/panel/${requests}?token=${one.token}`);
  const several = await embedToken(page, {
    panels: [latency, sessions],
    expires_in: '1h',
    vars: { service: 'checkout' },
    origins: [host.origin],
  });
  expect(several.url).toContain(`/embed/dashboard/${d.id}?panels=${latency},${sessions}&token=`);

  await page.goto(`${host.url}?a=${encodeURIComponent(one.url)}&b=${encodeURIComponent(several.url)}`);
  const a = page.frameLocator('#a');
  const b = page.frameLocator('#b');
  // No chrome: the panel alone, drawn by its island, following the live stream.
  await expect(a.locator(`[data-panel="${requests}"]`)).toBeVisible();
  await expect(a.locator('nav')).toHaveCount(0);
  await expect(a.locator('.chart-box.hydrated')).toHaveCount(1);
  await expect(a.locator('button.live-toggle')).toHaveAttribute('data-status', 'live');
  expect(await a.locator(`[data-panel="${requests}"] .legend li`).count()).toBeGreaterThan(1);
  // Only the panels named; the locked variable narrows the latency panel to one service.
  await expect(b.locator('section.panel')).toHaveCount(2);
  await expect(b.locator(`[data-panel="${latency}"] .legend li`)).toHaveCount(1);
  await expect(b.locator(`[data-panel="${latency}"] .legend li`)).toContainText('checkout');
  await expect(b.locator('button.live-toggle')).toHaveAttribute('data-status', 'live');

  // Each embed reports its height and the host sizes its iframe to it.
  await expect.poll(() => page.evaluate(() => (window as any).heights.b ?? 0)).toBeGreaterThan(300);
  const reported = await page.evaluate(() => (window as any).heights.b);
  expect((await page.locator('#b').boundingBox())!.height).toBeCloseTo(reported, 0);

  // The host sets the time range and a variable; the locked one keeps the token's value.
  await expect(b.locator('[data-testid="embed-range"]')).toHaveText('Last hour');
  await page.evaluate(() => {
    const frame = document.getElementById('b') as HTMLIFrameElement;
    frame.contentWindow!.postMessage({ type: 'osprey:set', range: '6h', vars: { service: 'web' } }, '*');
  });
  await expect(b.locator('[data-testid="embed-range"]')).toHaveText('Last 6 hours');
  await expect(b.locator(`[data-panel="${latency}"] .legend li`)).toContainText('checkout');
  await expect(a.locator('[data-testid="embed-range"]')).toHaveText('Last hour');
  expect(errors).toEqual([]);
  await host.close();
});

test('a site not on the allowlist cannot frame an embed, and no other page can be framed', async ({ page }) => {
  const d = await dashboard(page);
  const host = await startSite(hostPage);
  const refused: string[] = [];
  page.on('console', (m) => { if (m.text().includes('frame-ancestors')) refused.push(m.text()); });
  const elsewhere = await embedToken(page, { panels: [d.panels[0].id], origins: ['https://intranet.example.com'] });
  const allowed = await embedToken(page, { panels: [d.panels[0].id], origins: [host.origin] });
  await page.goto(`${host.url}?no=${encodeURIComponent(elsewhere.url)}&yes=${encodeURIComponent(allowed.url)}&page=${encodeURIComponent(`/dashboards/${d.id}`)}`);
  await expect(page.frameLocator('#yes').locator('[data-testid="embed"]')).toBeVisible();
  // Chromium refuses both: the embed for its frame-ancestors, the dashboard page outright.
  await expect.poll(() => refused.length).toBeGreaterThanOrEqual(2);
  expect(refused.join('\n')).toContain('https://intranet.example.com');
  await expect(page.frameLocator('#no').locator('[data-testid="embed"]')).toHaveCount(0);
  await expect(page.frameLocator('#page').locator('nav.sidebar, section.panel')).toHaveCount(0);
  await host.close();
});

test('an expired or revoked embed says so inside the host page', async ({ page }) => {
  const d = await dashboard(page);
  const host = await startSite(hostPage);
  const short = await embedToken(page, { panels: [d.panels[2].id], expires_in: '3s', origins: [host.origin] });
  const revoked = await embedToken(page, { panels: [d.panels[2].id], expires_in: '1h', origins: [host.origin] });
  // Both work at first…
  for (const e of [short, revoked]) {
    const r = await page.request.get(e.url, { headers: { accept: 'text/html' } });
    expect(await r.text()).toContain('data-testid="embed"');
  }
  // …then one is revoked and the other runs out.
  const gone = await page.request.delete(`/api/v1/embed-tokens/${revoked.id}`, { headers: { origin: osprey } });
  expect(gone.status()).toBe(204);
  await page.goto(`${host.url}?r=${encodeURIComponent(revoked.url)}`);
  const r = page.frameLocator('#r').locator('[data-testid="embed-denied"]');
  await expect(r).toContainText('This embed cannot be shown');
  await expect(r).toContainText('was revoked on');
  await expect(page.frameLocator('#r').locator('section.panel')).toHaveCount(0);

  await expect
    .poll(async () => {
      await page.goto(`${host.url}?s=${encodeURIComponent(short.url)}`);
      return page.frameLocator('#s').locator('[data-testid="embed-denied"], [data-testid="embed"]').first().textContent();
    }, { timeout: 15_000 })
    .toContain('expired on');
  // A token whose signature was tampered with is refused.
  const forged = revoked.url.slice(0, -1) + (revoked.url.endsWith('0') ? '1' : '0');
  const f = await page.request.get(forged.replace(revoked.id, 'em_0000000000000000'), { headers: { accept: 'text/html' } });
  expect(await f.text()).toContain('not a valid Osprey embed token');
  await host.close();
});

test('Share → Embed makes a snippet that works in another site, and revoking it stops it', async ({ page }) => {
  const errors = collectErrors(page);
  const d = await dashboard(page);
  let snippet = '';
  const host = await startSite(() => snippet);
  await page.goto(`/dashboards/${d.id}`);
  const share = page.locator('#embeds');
  await share.getByLabel('Sites allowed to embed').fill(host.origin);
  // Only the first panel.
  await share.getByLabel('p95 latency').uncheck();
  await share.getByLabel('Sessions').uncheck();
  await share.getByRole('button', { name: 'Create embed' }).click();
  const row = share.locator('[data-testid="embed-row"]');
  await expect(row).toHaveCount(1);
  await expect(row).toHaveAttribute('data-active', 'true');
  await expect(row).toContainText(host.origin);
  snippet = await row.locator('textarea.snippet').inputValue();
  expect(snippet).toContain(`${osprey}/embed/panel/${d.panels[0].id}?token=oe1.`);

  // Pasted into the host's page, it shows the panel and sizes the iframe to it.
  await page.goto(host.url);
  const frame = page.frameLocator('iframe');
  await expect(frame.locator(`[data-panel="${d.panels[0].id}"]`)).toBeVisible();
  await expect.poll(() => page.locator('iframe').evaluate((f: HTMLIFrameElement) => f.style.height)).toMatch(/^\d+px$/);
  expect(errors).toEqual([]);

  await page.goto(`/dashboards/${d.id}`);
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(row).toHaveAttribute('data-active', 'false');
  await expect(row).toContainText('revoked');
  await page.goto(host.url);
  await expect(frame.locator('[data-testid="embed-denied"]')).toContainText('was revoked on');

  // The audit log has both.
  const audit = await (await page.request.get('/api/v1/audit')).json();
  const actions = audit.entries.map((e: { action: string }) => e.action);
  expect(actions).toContain('embed.create');
  expect(actions).toContain('embed.revoke');
  await host.close();
});
