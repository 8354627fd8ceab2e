import { defineConfig } from "@playwright/test";
import { cluster } from "./tests/cluster";

// One cluster (redis + instances + HAProxy, see scripts/cluster.sh) serves the whole run, and tests
// kill and restart its instances, so they run one at a time.
export default defineConfig({
  testDir: "./tests",
  globalSetup: "./tests/global-setup.ts",
  globalTeardown: "./tests/global-teardown.ts",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  // Caps, not expectations: every wait is for a condition. They leave room for a CI machine
  // that runs the suite three times slower than a quiet one (seen: 48 s for a 16 s test).
  timeout: 90_000,
  expect: { timeout: 15_000 },
  reporter: [["list"]],
  use: {
    baseURL: cluster.baseURL,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    },
  },
});
