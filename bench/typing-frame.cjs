#!/usr/bin/env node
// What one `typing` frame costs the page when 500 messages are shown: the main-thread time from
// the frame's arrival to the end of everything it set off (the handler, the reactive updates and
// the DOM work they do, all before the next task), measured in Chromium.
//
//   node bench/typing-frame.cjs http://127.0.0.1:4301 [frames] [label] [results.jsonl]
//
// Alice's page is open on the lobby; Bob, from his own page, sends 500 messages over a socket of
// his own (the server must allow that rate: RATE_MESSAGES_PER_SEC=1000 RATE_MESSAGES_BURST=1000, and guests: ALLOW_GUESTS=true),
// waits until Alice's page shows all of them, then sends `typing` every 1.1 s (the server passes
// on one typing frame a second per room). A script added to Alice's page before it loads times
// each typing frame it receives: from the `message` event (its listener runs before the app's)
// to a task posted at that moment (which runs after the microtasks the frame set off, where
// Leptos applies the change). Prints one JSON line with the median and p90, and appends it to
// the results file when one is given. Loopback only; bounded in count and time.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require(path.join(__dirname, '..', 'end2end', 'node_modules', '@playwright/test'));

const [base = 'http://127.0.0.1:3000', framesArg = '25', label = 'typing-frame', out] = process.argv.slice(2);
const frames = Math.max(3, Math.min(200, Number(framesArg) || 25));
const MESSAGES = 500;
if (!/^http:\/\/(127\.|localhost[:/]|\[::1\])/.test(base)) {
  console.error('typing-frame: loopback URLs only');
  process.exit(2);
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))];
};

// Runs in Alice's page before its scripts: times every typing frame the page receives.
function timeTypingFrames() {
  window.__typing = [];
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Native(...args);
    socket.addEventListener('message', (event) => {
      if (typeof event.data !== 'string' || !event.data.startsWith('{"type":"typing"')) return;
      const start = performance.now();
      const channel = new MessageChannel();
      channel.port1.onmessage = () => window.__typing.push(performance.now() - start);
      channel.port2.postMessage(null);
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
}

async function loggedIn(browser, name) {
  const context = await browser.newContext();
  const login = await context.request.post(`${base}/api/login`, {
    form: { name },
    headers: { origin: base },
    maxRedirects: 0,
  });
  if (login.status() >= 400) throw new Error(`login answered ${login.status()}`);
  return context;
}

async function live(page) {
  await page.goto(`${base}/`, { timeout: 30000 });
  await page.waitForFunction(
    () => document.querySelector('[data-testid="socket-instance"]')?.textContent.trim() !== '…',
    null,
    { timeout: 30000 },
  );
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  const deadline = setTimeout(() => {
    console.error('typing-frame: gave up after 5 minutes');
    process.exit(1);
  }, 300000);
  try {
    const alice = await (await loggedIn(browser, 'alice')).newPage();
    await alice.addInitScript(timeTypingFrames);
    await live(alice);
    const bob = await (await loggedIn(browser, 'bob')).newPage();
    await live(bob);
    // Bob's own socket: 500 messages, answered one ack each, then typing on a rhythm.
    await bob.evaluate(async (count) => {
      const url = `${location.origin.replace(/^http/, 'ws')}/ws?room=lobby`;
      const socket = new WebSocket(url);
      window.__bob = socket;
      await new Promise((resolve, reject) => {
        socket.onerror = reject;
        socket.onmessage = (e) => e.data.startsWith('{"type":"hello"') && resolve();
      });
      let acked = 0;
      const done = new Promise((resolve) => {
        socket.onmessage = (e) => {
          if (e.data.startsWith('{"type":"ack"') && ++acked === count) resolve();
        };
      });
      for (let i = 0; i < count; i++) {
        socket.send(JSON.stringify({ type: 'send', room: 'lobby', text: `message ${i}`, client_id: crypto.randomUUID() }));
      }
      await done;
    }, MESSAGES);
    // The page keeps its newest 500 rows, join notices among them: wait for the last message
    // and a full list.
    await alice.waitForFunction(
      (count) =>
        document.querySelectorAll('[data-testid="messages"] .msg').length >= count &&
        [...document.querySelectorAll('[data-testid="messages"] .msg .text')].some((t) => t.textContent === `message ${count - 1}`),
      MESSAGES,
      { timeout: 120000 },
    );
    const shown = await alice.evaluate(() => document.querySelectorAll('[data-testid="messages"] .msg').length);
    for (let i = 0; i < frames + 1; i++) {
      await bob.evaluate(() => window.__bob.send(JSON.stringify({ type: 'typing', room: 'lobby' })));
      await bob.waitForTimeout(1100);
    }
    await alice.waitForFunction((n) => window.__typing.length >= n, frames, { timeout: 30000 });
    // The first frame also sets up the line; the rest are the steady cost.
    const samples = (await alice.evaluate(() => window.__typing)).slice(1);
    const result = {
      label,
      rows_shown: shown,
      typing_frames: samples.length,
      typing_frame_ms_p50: Number(quantile(samples, 0.5).toFixed(2)),
      typing_frame_ms_p90: Number(quantile(samples, 0.9).toFixed(2)),
      typing_frame_ms_max: Number(Math.max(...samples).toFixed(2)),
    };
    const line = JSON.stringify(result);
    console.log(line);
    if (out) fs.appendFileSync(out, `${line}\n`);
  } finally {
    clearTimeout(deadline);
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
