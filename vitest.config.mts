import { defineConfig } from 'vitest/config';

// Unit and integration suites; the browser suite has its own config (vitest.browser.config.ts)
// because it needs JupyterLab running and runs one file at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/browser/**', 'node_modules/**'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Two cores: keep parallel files few so PGlite's WASM start-up does not starve the rest.
    maxWorkers: 2,
    reporters: ['default']
  }
});
