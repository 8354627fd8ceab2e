// A page that wakes up (issue 21): resumed after the browser froze it, it checks its socket at
// once instead of waiting out the heartbeat limit (9 s in this rig), and is back on a live
// instance with nothing lost or doubled.
import { expect, test, type Page } from "@playwright/test";
import { cluster } from "./cluster";
import { connected, loggedIn, say, texts, uniqueTag } from "./helpers";

async function instanceOf(page: Page): Promise<number> {
  await connected(page);
  const name = (await page.getByTestId("socket-instance").textContent()) ?? "";
  return Number(name.replace("app-", ""));
}

/** Another instance than `n`. */
const other = (n: number) => (n % cluster.size) + 1;

/** Freezes `page` as the browser does a background tab (Page Lifecycle), until `thaw()`.
 *
 * `Page.setWebLifecycleState` freezes a hidden tab of a headed browser; headless Chromium keeps
 * every page visible and lets it run on. So the page's script is also stopped through the
 * debugger, as a frozen page's is: no timer fires, no event is handled, what arrives waits. On
 * thawing, the page is let go and hears the `resume` event the browser fires on unfreezing. */
async function freeze(page: Page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Page.setWebLifecycleState", { state: "frozen" });
  await cdp.send("Debugger.enable");
  const paused = new Promise((resolve) => cdp.once("Debugger.paused", resolve));
  await cdp.send("Debugger.pause");
  // The next task the page runs (its clock ticks every second) stops there.
  await paused;
  return async () => {
    await cdp.send("Debugger.resume");
    await cdp.send("Debugger.disable");
    await cdp.send("Page.setWebLifecycleState", { state: "active" });
    const resumedAt = Date.now();
    await page.evaluate(() => document.dispatchEvent(new Event("resume")));
    return resumedAt;
  };
}

/** Waits until the load balancer sends a request stuck to instance `n` elsewhere (its health
 * checks found it dead): a paused instance cannot answer, so any answer is another's. */
async function routedAround(n: number) {
  await expect
    .poll(
      async () => {
        try {
          const response = await fetch(`${cluster.baseURL}/readyz`, {
            headers: { cookie: `__VCAP_ID__=app-${n}` },
            signal: AbortSignal.timeout(500),
          });
          return response.status;
        } catch {
          return 0;
        }
      },
      { timeout: 10_000 },
    )
    .toBe(200);
}

/** Waits until `page` is connected to an instance other than `gone`; returns when. */
async function movedAway(page: Page, gone: number) {
  await expect(page.getByTestId("socket-instance")).not.toHaveText(`app-${gone}`, { timeout: 20_000 });
  await connected(page);
  return Date.now();
}

for (const how of ["kill", "pause"] as const) {
  const what = how === "kill" ? "killed (kill -9)" : "frozen (SIGSTOP: its socket dies without a word)";
  test(`a frozen page whose instance was ${what} is back on a live one right after it resumes`, async ({
    browser,
  }) => {
    const run = uniqueTag();
    const during = (i: number) => `while asleep ${how} ${run} ${i}`;
    const sleeper = await loggedIn(browser, cluster.baseURL, "Sleeper");
    const victim = await instanceOf(sleeper);
    const talker = await loggedIn(browser, cluster.instanceURL(other(victim)), "Talker");
    const thaw = await freeze(sleeper);
    try {
      cluster.run(how, String(victim));
      await routedAround(victim);
      for (let i = 1; i <= 3; i++) await say(talker, during(i));
      const resumedAt = await thaw();
      const backAt = await movedAway(sleeper, victim);
      // Well inside the 9 s silence limit that would otherwise find the dead socket.
      console.log(`[measure] woke (${how}): on a live instance ${backAt - resumedAt} ms after resuming`);
      expect(backAt - resumedAt).toBeLessThan(5_000);
      for (let i = 1; i <= 3; i++) await expect(texts(sleeper).filter({ hasText: during(i) })).toHaveCount(1);
      const seen = (await texts(sleeper).allTextContents()).filter((t) => t.includes(run));
      expect(seen).toEqual([1, 2, 3].map(during));
      const after = `after waking ${how} ${run}`;
      await say(sleeper, after);
      await expect(texts(talker).filter({ hasText: after })).toHaveCount(1);
    } finally {
      cluster.run(how === "pause" ? "resume" : "start", String(victim));
    }
  });
}
