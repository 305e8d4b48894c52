import { defineConfig } from 'vitest/config';

// The browser suite: a real JupyterLab (started by the test itself) driven in Chromium. One file
// at a time on one worker, since each file owns a lab server, a browser and an embedded database.
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    maxWorkers: 1,
    reporters: ['default']
  }
});
