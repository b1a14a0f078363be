import { expect, test } from '@playwright/test';
import { collectErrors, signIn } from '../support/actions';

test('an admin adds a user, changes its role and sees it all in the audit log', async ({ page }) => {
  const errors = collectErrors(page);
  await signIn(page, '/settings');
  await expect(page.getByRole('heading', { name: 'Settings' })).toBeVisible();
  await expect(page.locator('tr[data-user="admin"]')).toBeVisible();
  const form = page.locator('form.channel-form');
  await form.getByLabel('Username').fill('e2e-viewer');
  await form.getByLabel('Password').fill('viewer-password-1');
  await form.getByLabel('Role').selectOption('viewer');
  await form.getByRole('button', { name: 'Add user' }).click();
  const row = page.locator('tr[data-user="e2e-viewer"]');
  await expect(row).toBeVisible();
  await row.getByLabel('Role of e2e-viewer').selectOption('editor');
  await row.getByRole('button', { name: 'Set' }).click();
  await expect(page.locator('tr[data-user="e2e-viewer"]').getByLabel('Role of e2e-viewer')).toHaveValue('editor');
  const audit = page.locator('table.audit');
  await expect(audit.locator('tr[data-action="user.create"]').first()).toContainText('e2e-viewer');
  await expect(audit.locator('tr[data-action="role.change"]').first()).toContainText('viewer → editor');
  await expect(audit.locator('tr[data-action="login"]').first()).toContainText('admin');
  expect(errors).toEqual([]);
});

test('people who are not admins see no Settings', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('link', { name: 'Settings' })).toHaveCount(0);
  await page.goto('/settings');
  await expect(page.getByRole('alert')).toContainText('admins only');
  await expect(page.locator('tr[data-user]')).toHaveCount(0);
});
