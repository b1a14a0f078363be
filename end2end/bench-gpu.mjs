// Frame rate of the GPU views while the user drags, in Debian's Chromium (SwiftShader: no real
// GPU, so these are floors). Run by scripts/bench-gpu:  node bench-gpu.mjs URL webgl2|webgpu
import { chromium } from '@playwright/test';
import flags from './chromium-flags.json' with { type: 'json' };

const [base, mode] = process.argv.slice(2);
const args = [...flags.common, ...(mode === 'webgpu' ? flags.webgpu : flags.webgl2)];
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args });
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
page.on('console', (m) => { if (m.type() === 'error') console.log('console error:', m.text().slice(0, 300)); });
page.on('pageerror', (e) => console.log('page error:', String(e).slice(0, 300)));

async function measure(path, label) {
  const started = Date.now();
  await page.goto(base + path);
  const view = page.getByTestId('gpu-view');
  await page.waitForFunction(() => /^(WebGL2|WebGPU)$/.test(document.querySelector('[data-testid=gpu-view]')?.getAttribute('data-status') ?? ''), null, { timeout: 120_000 });
  const ready = Date.now() - started;
  const backend = await view.getAttribute('data-status');
  const canvas = page.locator('.gpu-canvas');
  const points = await canvas.getAttribute('data-points');
  const drawnAs = await canvas.getAttribute('data-mode');
  const box = await canvas.boundingBox();
  const frames = async () => Number(await canvas.getAttribute('data-frames'));
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  const f0 = await frames();
  const t0 = Date.now();
  let i = 0;
  while (Date.now() - t0 < 4000) {
    i++;
    await page.mouse.move(box.x + box.width / 2 + 150 * Math.sin(i / 20), box.y + box.height / 2 + 40 * Math.cos(i / 20));
  }
  await page.mouse.up();
  const fps = ((await frames()) - f0) / ((Date.now() - t0) / 1000);
  console.log(`${label} [${backend}]: ready in ${ready} ms${points ? ` (${points} spans, drawn as ${drawnAs})` : ''}, ${fps.toFixed(1)} frames/s while dragging (${(1000 / fps).toFixed(1)} ms a frame)`);
}

await measure('/explore?view=surface&cols=200&rows=200', 'latency surface 200 x 200');
await measure('/explore?view=heatmap&cols=200&rows=200', 'latency heatmap 200 x 200');
await measure('/explore?view=scatter', 'span scatter');
await browser.close();
