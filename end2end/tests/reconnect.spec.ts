// An instance dies or is stopped under a chatting user: the browser must get back to a live
// instance by itself, still logged in, losing, duplicating and reordering nothing.
import { expect, test, type Page } from "@playwright/test";
import { cluster } from "./cluster";
import { connected, loggedIn, say, texts, uniqueTag } from "./helpers";

// Each test here kills instances under its own pages alone: the pages earlier specs left open in
// this worker's browser would all reconnect at once too, and their herd (dozens of pages probing
// and rejoining on a 2-core machine) is not what these tests are about.
test.beforeEach(async ({ browser }) => {
  await Promise.all(browser.contexts().map((context) => context.close()));
});

/** The number of the instance the page's socket is on ("app-2" → 2). */
async function instanceOf(page: Page): Promise<number> {
  await connected(page);
  const name = (await page.getByTestId("socket-instance").textContent()) ?? "";
  return Number(name.replace("app-", ""));
}

async function sessionId(page: Page) {
  return (await page.context().cookies()).find((c) => c.name === "JSESSIONID")?.value;
}

/** Resolves with the reconnect time the client logs ("reconnected to app-N after X ms"). */
function reconnectLog(page: Page): Promise<number> {
  return new Promise((resolve) => {
    page.on("console", (message) => {
      const found = /reconnected to (app-\d+) (\d+) ms after/.exec(message.text());
      if (found) resolve(Number(found[2]));
    });
  });
}

/** Waits until the page is connected to an instance other than `gone`. */
async function reconnectedAway(page: Page, gone: number) {
  await expect(page.getByTestId("socket-instance")).not.toHaveText(`app-${gone}`, { timeout: 20_000 });
  await connected(page);
  await expect(page.getByTestId("status")).toHaveCount(0);
}

/** Another instance than `n`. */
const other = (n: number) => (n % cluster.size) + 1;

for (const how of ["kill", "stop"] as const) {
  const what = how === "kill" ? "killed (kill -9)" : "stopped (SIGTERM)";

  test(`${what}: the user reconnects elsewhere, logged in, and nothing is lost or doubled`, async ({
    browser,
  }, testInfo) => {
    // Texts are unique per run: the room's history outlives a test.
    const run = uniqueTag();
    const before = `before the ${how} ${run}`;
    const typed = `typed during the ${how} ${run}`;
    const after = `after the ${how} ${run}`;
    const outage = (i: number) => `${how}-${run}-outage-${i}`;
    const erin = await loggedIn(browser, cluster.baseURL, `Erin-${how}`);
    const victim = await instanceOf(erin);
    const frank = await loggedIn(browser, cluster.instanceURL(other(victim)), `Frank-${how}`);
    await say(erin, before);
    await expect(texts(frank).filter({ hasText: before })).toHaveCount(1);
    const cookieBefore = await sessionId(erin);
    const reconnected = reconnectLog(erin);

    const started = Date.now();
    try {
      if (how === "kill") {
        cluster.run("kill", String(victim));
        // (d) Typed while the instance is gone: pending now, delivered once after the reconnect.
        await say(erin, typed);
      }
      // (c) Said by someone else while Erin is away.
      for (let i = 1; i <= 5; i++) await say(frank, outage(i));
      if (how === "stop") {
        // SIGTERM: the instance closes Erin's socket (1012) within its drain window, then exits.
        cluster.run("stop", String(victim));
        await say(erin, typed);
      }

      // (a)/(b) Back on another instance, never shown the login form.
      await reconnectedAway(erin, victim);
      const clientMs = await reconnected;
      testInfo.annotations.push({
        type: "reconnect",
        description: `${how}: client reconnected ${clientMs} ms after losing the socket; ${Date.now() - started} ms after the ${how} command`,
      });
      console.log(`[measure] ${how}: reconnect ${clientMs} ms after loss, ${Date.now() - started} ms after the command`);
      await expect(erin.getByLabel("Your name")).toHaveCount(0);

      // (c) Exactly once, in order.
      await expect(texts(erin).filter({ hasText: outage(5) })).toHaveCount(1);
      const seen = (await texts(erin).allTextContents()).filter((t) => t.startsWith(`${how}-${run}-outage-`));
      expect(seen).toEqual([1, 2, 3, 4, 5].map(outage));

      // (d) Delivered exactly once, to both, and no longer pending.
      await say(erin, after);
      for (const page of [erin, frank]) {
        await expect(texts(page).filter({ hasText: after })).toHaveCount(1);
        await expect(texts(page).filter({ hasText: typed })).toHaveCount(1);
      }
      await expect(erin.getByTestId("pending")).toHaveCount(0);
      const all = await texts(frank).allTextContents();
      expect(all.indexOf(typed)).toBeLessThan(all.indexOf(after));

      // (f) The probe regenerated the session id.
      expect(await sessionId(erin)).not.toEqual(cookieBefore);

      // (e) A refresh after the reconnect keeps the user logged in.
      await erin.reload();
      await expect(erin.getByTestId("me")).toHaveText(`Erin-${how}`);
      await connected(erin);
      await expect(texts(erin).filter({ hasText: outage(3) })).toHaveCount(1);
    } finally {
      cluster.run("start", String(victim));
    }
  });
}

test("while every instance is down: a banner, a pending outbox, and Retry now", async ({ browser }) => {
  const page = await loggedIn(browser, cluster.baseURL, "Grace");
  const queued = `queued while everything is down ${uniqueTag()}`;
  try {
    for (let i = 1; i <= cluster.size; i++) cluster.run("kill", String(i));
    await expect(page.getByTestId("status")).toContainText("Connection lost");
    const retry = page.getByRole("button", { name: "Retry now" });
    await expect(retry).toBeVisible();
    await say(page, queued);
    await expect(page.getByTestId("pending")).toContainText(queued);
    // The draft in the composer survives the outage too.
    await page.getByTestId("composer").fill("a draft in progress");
    // Retry now probes at once instead of waiting out the backoff.
    const probe = page.waitForRequest((r) => new URL(r.url()).pathname === "/", { timeout: 3_000 });
    await retry.click();
    await probe;
  } finally {
    for (let i = 1; i <= cluster.size; i++) cluster.run("start", String(i));
  }
  await connected(page);
  await expect(page.getByTestId("pending")).toHaveCount(0, { timeout: 20_000 });
  await expect(texts(page).filter({ hasText: queued })).toHaveCount(1);
  await expect(page.getByTestId("composer")).toHaveValue("a draft in progress");
});

test("an instance frozen (SIGSTOP): its user moves elsewhere, and its late frames double nothing", async ({
  browser,
}) => {
  const run = uniqueTag();
  const during = (i: number) => `frozen-${run}-${i}`;
  const typed = `typed while frozen ${run}`;
  const ivy = await loggedIn(browser, cluster.baseURL, "Ivy");
  const victim = await instanceOf(ivy);
  const jack = await loggedIn(browser, cluster.instanceURL(other(victim)), "Jack");
  let resumed = false;
  try {
    const paused = Date.now();
    cluster.run("pause", String(victim));
    await say(ivy, typed);
    for (let i = 1; i <= 3; i++) await say(jack, during(i));
    await reconnectedAway(ivy, victim);
    console.log(`[measure] frozen instance: the user was on another instance ${Date.now() - paused} ms after SIGSTOP`);
    cluster.run("resume", String(victim));
    resumed = true;
    // Whatever the frozen instance still had queued for Ivy's old socket arrives late, or not at
    // all; either way each message is on screen once, in order.
    await expect(texts(ivy).filter({ hasText: during(3) })).toHaveCount(1);
    await say(jack, during(4));
    await expect(texts(ivy).filter({ hasText: during(4) })).toHaveCount(1);
    const seen = (await texts(ivy).allTextContents()).filter((t) => t.startsWith(`frozen-${run}-`));
    expect(seen).toEqual([1, 2, 3, 4].map(during));
    for (const page of [ivy, jack]) await expect(texts(page).filter({ hasText: typed })).toHaveCount(1);
    await expect(ivy.getByTestId("pending")).toHaveCount(0);
  } finally {
    if (!resumed) cluster.run("resume", String(victim));
  }
});

test("Redis frozen: a message shows as retrying, then is sent once when Redis is back", async ({
  browser,
}) => {
  const page = await loggedIn(browser, cluster.baseURL, "Kim");
  const text = `sent into a frozen redis ${uniqueTag()}`;
  let resumed = false;
  // Taken as Redis is continued: `resume redis` returns only once the service serves again.
  let thawed = 0;
  try {
    cluster.run("pause", "redis");
    await say(page, text);
    // The server refuses it as unavailable after its 2 s command timeout; the client retries.
    await expect(page.getByTestId("pending")).toContainText(text);
    await expect(page.getByTestId("pending")).toContainText("retrying", { timeout: 15_000 });
    thawed = Date.now();
    cluster.run("resume", "redis");
    resumed = true;
  } finally {
    if (!resumed) cluster.run("resume", "redis");
  }
  await expect(page.getByTestId("pending")).toHaveCount(0, { timeout: 40_000 });
  console.log(`[measure] frozen redis: the retried message was sent ${Date.now() - thawed} ms after SIGCONT`);
  await expect(texts(page).filter({ hasText: text })).toHaveCount(1);
  await expect(page.getByTestId("failed")).toHaveCount(0);
});
