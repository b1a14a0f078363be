import { defineConfig } from '@playwright/test';
import flags from './chromium-flags.json';

// Playwright drives Debian's Chromium (browser downloads do not work on these machines)
// against a real osprey with a fresh SQLite database and the demo running.
const bin = process.env.OSPREY_BIN ?? '../target/debug/osprey';
export const port = Number(process.env.OSPREY_E2E_PORT ?? 3100);
export const ingestKey = 'e2e-ingest-key';
export const adminPassword = 'e2e-admin-password';

const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    viewport: { width: 1400, height: 1000 },
    launchOptions: {
      executablePath: chromium,
      args: [...flags.common, ...flags.webgl2],
    },
  },
  projects: [
    // No WebGPU adapter here, so the 3-D views fall back to WebGL2 (ANGLE on SwiftShader).
    { name: 'chromium' },
    // WebGPU on SwiftShader (chromium-flags.json): the 3-D views again.
    {
      name: 'webgpu',
      testMatch: /explore\.spec\.ts/,
      use: {
        launchOptions: {
          executablePath: chromium,
          args: [...flags.common, ...flags.webgpu],
        },
      },
    },
  ],
  webServer: {
    command: `bash -c 'dir=$(mktemp -d) && exec ${bin} serve --demo --addr 127.0.0.1:${port} --database-url sqlite://$dir/e2e.db'`,
    url: `http://127.0.0.1:${port}/readyz`,
    env: { OSPREY_INGEST_KEY: ingestKey, OSPREY_ADMIN_PASSWORD: adminPassword, RUST_LOG: 'warn', OSPREY__ALERTS__EVAL_INTERVAL: '1s' },
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
  },
});
