import type { Page } from '@playwright/test';

/** Where things are on Osprey's pages. */
export const panels = (page: Page) => page.locator('section.panel');
export const panel = (page: Page, id: string) => page.locator(`section.panel[data-panel="${id}"]`);
export const canvas = (page: Page, id: string) => panel(page, id).locator('canvas.chart-canvas');
export const ssrCharts = (page: Page) => page.locator('.chart-ssr svg');
export const hydratedCharts = (page: Page) => page.locator('.chart-box.hydrated');
export const liveToggle = (page: Page) => page.locator('button.live-toggle');
export const themeToggle = (page: Page) => page.locator('button.theme-toggle');
export const rangeLink = (page: Page, key: string) => page.locator(`.range-picker a[data-range="${key}"]`);
export const subtitle = (page: Page) => page.locator('.page-header .subtitle');
export const tooltip = (page: Page, id: string) => panel(page, id).locator('.tooltip');
