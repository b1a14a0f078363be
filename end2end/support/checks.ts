import { expect, type Locator, type Page } from '@playwright/test';
import * as at from './locators';

/** How many distinct colours a canvas shows: a blank one shows one. */
export async function canvasColours(canvas: Locator): Promise<number> {
  return canvas.evaluate((el: HTMLCanvasElement) => {
    const ctx = el.getContext('2d');
    if (!ctx || el.width === 0 || el.height === 0) return 0;
    const data = ctx.getImageData(0, 0, el.width, el.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < data.length; i += 16) {
      seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      if (seen.size > 50) break;
    }
    return seen.size;
  });
}

export async function expectSixDrawnCharts(page: Page) {
  await expect(at.panels(page)).toHaveCount(6);
  await expect(at.hydratedCharts(page)).toHaveCount(6);
  for (const id of ['requests', 'latency', 'errors', 'revenue', 'sessions', 'cpu']) {
    const canvas = at.canvas(page, id);
    await expect(canvas).toHaveAttribute('data-points', /^[1-9]\d*$/);
    expect(await canvasColours(canvas), `panel ${id} is blank`).toBeGreaterThan(5);
  }
}

/**
 * How many distinct colours an element shows on screen, read from a screenshot (a GPU canvas
 * cannot be read back with a 2-D context). A blank element shows one or two.
 */
export async function screenColours(page: Page, element: Locator): Promise<number> {
  const png = (await element.screenshot()).toString('base64');
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext('2d')!;
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < data.length; i += 4) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return seen.size;
  }, png);
}
