#!/usr/bin/env node
// First page load in Chromium, cold: a new browser context (empty cache) per run, logged in
// through /api/login, then GET / and timed until the page is interactive — the WASM hydrated and
// the chat socket open (the header shows the instance the socket is on).
//
//   node bench/page-load.cjs http://127.0.0.1:4201 [runs] [label] [results.jsonl]
//
// Uses the Playwright installed for the browser tests (end2end/node_modules) and Debian's
// Chromium (CHROMIUM_PATH overrides). Prints one JSON line (medians over the runs) and appends it
// to the results file when one is given.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require(path.join(__dirname, '..', 'end2end', 'node_modules', '@playwright/test'));

const [base = 'http://127.0.0.1:3000', runsArg = '5', label = 'page-sb', out] = process.argv.slice(2);
const runs = Math.max(1, Math.min(50, Number(runsArg) || 5));
if (!/^http:\/\/(127\.|localhost[:/]|\[::1\])/.test(base)) {
  console.error('page-load: loopback URLs only');
  process.exit(2);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  const samples = [];
  try {
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext();
      const login = await context.request.post(`${base}/api/login`, {
        form: { name: `page${i}` },
        headers: { origin: base },
        maxRedirects: 0,
      });
      if (login.status() >= 400) throw new Error(`login answered ${login.status()}`);
      const page = await context.newPage();
      await page.goto(`${base}/`, { waitUntil: 'commit', timeout: 30000 });
      await page.waitForFunction(() => {
        const el = document.querySelector('[data-testid="socket-instance"]');
        if (el && el.textContent.trim() && !window.__interactiveAt) window.__interactiveAt = performance.now();
        return window.__interactiveAt;
      }, null, { timeout: 30000, polling: 'raf' });
      // The WASM's resource-timing entry is added once its body is fully read, which may come
      // after the streaming compile has started the app.
      await page.waitForFunction(
        () => performance.getEntriesByType('resource').some((r) => new URL(r.name).pathname.endsWith('.wasm')),
        null,
        { timeout: 10000 },
      );
      const t = await page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const wasm = performance.getEntriesByType('resource').find((r) => new URL(r.name).pathname.endsWith('.wasm'));
        const js = performance.getEntriesByType('resource').find((r) => new URL(r.name).pathname.endsWith('.js'));
        return {
          ttfb: nav.responseStart,
          dom_content_loaded: nav.domContentLoadedEventEnd,
          load: nav.loadEventEnd,
          interactive: window.__interactiveAt,
          wasm_transfer: wasm ? wasm.transferSize : null,
          wasm_decoded: wasm ? wasm.decodedBodySize : null,
          js_transfer: js ? js.transferSize : null,
          html_transfer: nav.transferSize,
        };
      });
      samples.push(t);
      await context.close();
    }
  } finally {
    await browser.close();
  }
  const pick = (k) => {
    const m = median(samples.map((s) => s[k]));
    return m == null ? null : +m.toFixed(1);
  };
  const result = {
    label,
    url: base,
    runs,
    ttfb_ms: pick('ttfb'),
    dom_content_loaded_ms: pick('dom_content_loaded'),
    load_ms: pick('load'),
    interactive_ms: pick('interactive'),
    interactive_max_ms: +Math.max(...samples.map((s) => s.interactive)).toFixed(1),
    wasm_transfer_bytes: pick('wasm_transfer'),
    wasm_decoded_bytes: pick('wasm_decoded'),
    js_transfer_bytes: pick('js_transfer'),
    html_transfer_bytes: pick('html_transfer'),
  };
  const line = JSON.stringify(result);
  console.log(line);
  if (out) fs.appendFileSync(out, line + '\n');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
