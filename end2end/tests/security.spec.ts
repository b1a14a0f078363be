import { expect, test } from '@playwright/test';
import { collectErrors, ingest } from '../support/actions';
import { ingestKey } from '../playwright.config';

// Osprey's own sign-in allows 5 failures per address in 15 minutes, and every spec signs in from
// 127.0.0.1: three failures from the page stay under it. The brute force itself comes from an
// application, through ingest, as a monitored site would report it.
const UI_FAILURES = 3;

test('failed sign-ins and a brute-force attack show on the Security page', async ({ page, request }) => {
  const errors = collectErrors(page);
  const stamp = Date.now();
  const account = `mallory-${stamp}`;
  const attacker = `198.51.100.${stamp % 200 + 20}`;

  for (let i = 0; i < UI_FAILURES; i++) {
    await page.goto('/login');
    await page.getByLabel('Username').fill(account);
    await page.getByLabel('Password').fill(`wrong-password-${i}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert')).toBeVisible();
  }
  // Osprey's own failures are stored as security events of service osprey.
  const own = await request.get(`/api/v1/security/events?kind=auth_failure&limit=1000`);
  expect(own.ok()).toBeTruthy();
  const mine = (await own.json()).events.filter((e: { actor: string }) => e.actor === account);
  expect(mine).toHaveLength(UI_FAILURES);
  expect(mine[0].labels.service).toBe('osprey');

  const now = Date.now();
  const security = Array.from({ length: 10 }, (_, i) => ({
    timestamp: now - 10_000 + i * 1_000, kind: 'auth_failure', actor: `victim${i % 4}`, ip: attacker,
    details: { reason: 'bad_password' },
  }));
  expect((await ingest(request, { context: { service: 'shop-e2e' }, security })).status()).toBe(202);

  const report = await request.post(`/api/v1/csp-report?key=${ingestKey}&service=shop-e2e`, {
    headers: { 'Content-Type': 'application/csp-report' },
    data: JSON.stringify({ 'csp-report': {
      'document-uri': `https://shop.example/cart-${stamp}`, 'violated-directive': 'script-src-elem',
      'blocked-uri': 'https://evil.example/skimmer.js', 'line-number': 7,
    } }),
  });
  expect(report.status()).toBe(204);

  // Detection runs after the commit: look until the finding is there.
  await expect.poll(async () => {
    await page.goto('/security');
    return page.locator(`[data-testid="finding"][data-kind="brute_force_ip"]`, { hasText: attacker }).count();
  }, { timeout: 20_000 }).toBe(1);

  await expect(page.getByRole('link', { name: 'Security' })).toHaveAttribute('aria-current', 'page');
  const finding = page.locator('[data-testid="finding"][data-kind="brute_force_ip"]', { hasText: attacker });
  await expect(finding).toContainText('10 failed sign-ins');
  await expect(finding).toContainText('shop-e2e');
  const total = Number(await page.getByTestId('failure-total').textContent());
  expect(total).toBeGreaterThanOrEqual(10 + UI_FAILURES);
  await expect(page.locator('svg.bar-chart rect').first()).toBeVisible();
  await expect(page.getByTestId('top-addresses').locator('tr', { hasText: attacker })).toContainText('10');
  await expect(page.getByTestId('top-accounts')).toBeVisible();
  await expect(page.getByTestId('csp-violation').filter({ hasText: `cart-${stamp}` })).toContainText('https://evil.example/skimmer.js');
  expect(errors).toEqual([]);
});
