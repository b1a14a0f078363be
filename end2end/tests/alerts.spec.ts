import { expect, test } from '@playwright/test';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectErrors, ingest, signIn } from '../support/actions';

type Delivery = { headers: IncomingHttpHeaders; body: Buffer };

/** A webhook receiver on a real socket that records every request. */
async function startReceiver(): Promise<{ server: Server; url: string; got: Delivery[] }> {
  const got: Delivery[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/hook`, got };
}

test('a rule made in the UI fires, opens an incident, sends one signed webhook, and is acknowledged', async ({ page, request }) => {
  const errors = collectErrors(page);
  const receiver = await startReceiver();
  const secret = 'e2e-secret';
  try {
    // A channel, from the Alerts page, as a signed-in editor.
    await signIn(page, '/alerts');
    await expect(page.getByRole('heading', { name: 'Alerts', exact: true })).toBeVisible();
    const channelForm = page.locator('form.channel-form');
    await channelForm.getByLabel('Name').fill('e2e-hook');
    await channelForm.getByLabel('URL').fill(receiver.url);
    await channelForm.getByLabel('Signing secret').fill(secret);
    await channelForm.getByRole('button', { name: 'Add channel' }).click();
    await expect(page.locator('tr[data-channel="e2e-hook"]')).toBeVisible();

    // A rule: preview it against history, then create it.
    const ruleForm = page.locator('form.rule-form');
    await ruleForm.getByLabel('Name').fill('E2E latency');
    await ruleForm.getByLabel('Metric').fill('e2e.alert_latency');
    await ruleForm.getByLabel('Threshold').fill('500');
    await ruleForm.getByLabel('Severity').selectOption('critical');
    await ruleForm.getByLabel('Notify').selectOption({ label: 'e2e-hook (webhook)' });
    await ruleForm.getByRole('button', { name: 'Preview' }).click();
    await expect(page.locator('.backtest[data-range="24 h"]')).toContainText('Would have fired 0 times');
    await page.getByRole('button', { name: 'Create rule' }).click();
    await expect(page).toHaveURL(/\/alerts\/ru_/);
    await expect(page.getByRole('heading', { name: 'E2E latency' })).toBeVisible();

    // Data that crosses the threshold; the evaluator (every second here) fires the alert.
    const now = Date.now();
    const res = await ingest(request, {
      context: { service: 'e2e' },
      metrics: [0, 1, 2].map((i) => ({ timestamp: now - i * 1000, name: 'e2e.alert_latency', value: 900 })),
    });
    expect(res.status()).toBe(202);
    await expect.poll(() => receiver.got.length, { timeout: 15_000 }).toBe(1);
    const [delivery] = receiver.got;
    const expected = 'sha256=' + createHmac('sha256', secret).update(delivery.body).digest('hex');
    expect(delivery.headers['x-osprey-signature']).toBe(expected);
    const message = JSON.parse(delivery.body.toString('utf8'));
    expect(delivery.headers['idempotency-key']).toBe(message.idempotency_key);
    expect(message.status).toBe('firing');
    expect(message.alerts[0].value).toBe(900);

    // The incident, acknowledged from its page.
    await page.goto('/incidents');
    await page.getByRole('link', { name: /E2E latency/ }).first().click();
    await expect(page.getByTestId('incident-status')).toHaveText('triggered');
    const timeline = page.locator('ol.timeline');
    await expect(timeline.locator('li[data-kind="opened"]')).toHaveCount(1);
    await page.getByRole('button', { name: 'Acknowledge' }).click();
    await expect(page.getByTestId('incident-status')).toHaveText('acknowledged');
    await expect(timeline.locator('li[data-kind="acknowledged"]')).toContainText('Acknowledged by admin');
    await expect(timeline.locator('li[data-kind="delivered"]')).toContainText('e2e-hook');
    await expect(page.getByRole('button', { name: 'Acknowledge' })).toHaveCount(0);

    await page.getByLabel('What happened, why, and what changes').fill('A deploy doubled the pool size.');
    await page.getByRole('button', { name: 'Save postmortem' }).click();
    await expect(page.locator('p.postmortem')).toHaveText('A deploy doubled the pool size.');
    await expect(timeline.locator('li[data-kind="postmortem"]')).toHaveCount(1);

    expect(receiver.got.length, 'one message for one state change').toBe(1);
    expect(errors).toEqual([]);
  } finally {
    receiver.server.close();
  }
});

test('a silence is set and ended from the Alerts page', async ({ page }) => {
  const errors = collectErrors(page);
  await signIn(page, '/alerts');
  const form = page.locator('form.silence-form');
  await form.getByLabel('Equals').fill('e2e-silenced');
  await form.getByLabel('Comment').fill('maintenance window');
  await form.getByRole('button', { name: 'Silence' }).click();
  const row = page.locator('tr[data-silence]', { hasText: 'e2e-silenced' });
  await expect(row).toContainText('maintenance window');
  await row.getByRole('button', { name: 'End now' }).click();
  await expect(page.locator('tr[data-silence]', { hasText: 'e2e-silenced' })).toHaveCount(0);
  expect(errors).toEqual([]);
});
