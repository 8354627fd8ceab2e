// The outbox outlives the page (issue 21): what was typed and not yet acknowledged survives a
// reload, a closed tab, and the whole service out of reach, and goes out once, in order.
import { expect, test, type BrowserContext, type Page } from "@playwright/test";
import { cluster } from "./cluster";
import { connected, loggedIn, say, texts, uniqueTag } from "./helpers";

/** Cuts the context's live connections while `blocked.on` — each WebSocket is closed as it
 * opens, and the event stream it would fall back to fails — so the page loads but cannot
 * connect. */
async function blockSockets(context: BrowserContext) {
  const blocked = { on: true };
  await context.routeWebSocket(/\/ws/, (ws) => {
    if (blocked.on) ws.close({ code: 1011, reason: "blocked by the test" });
    else ws.connectToServer();
  });
  await context.route(/\/sse/, (route) => (blocked.on ? route.abort() : route.continue()));
  return blocked;
}

/** Expects each of `sent` on `page` exactly once, in this order. */
async function onceInOrder(page: Page, sent: string[]) {
  for (const text of sent) await expect(texts(page).filter({ hasText: text })).toHaveCount(1);
  const shown = (await texts(page).allTextContents()).filter((t) => sent.includes(t));
  expect(shown).toEqual(sent);
}

/** The outbox entries this browser keeps, whoever they belong to. */
function keptKeys(page: Page) {
  return page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("switchboard:outbox:")));
}

test("messages typed offline survive a reload and a closed tab, then arrive once, in order", async ({ browser }) => {
  const run = uniqueTag();
  const sent = [1, 2, 3].map((i) => `kept ${run} ${i}`);
  const reader = await loggedIn(browser, cluster.baseURL, "Reader");
  let writer = await loggedIn(browser, cluster.baseURL, "Writer");
  const context = writer.context();
  const blocked = await blockSockets(context);
  await writer.reload();
  await expect(writer.getByTestId("status")).toContainText("Connection lost");
  for (const text of sent) await say(writer, text);
  await expect(writer.getByTestId("pending")).toHaveCount(3);

  // A reload: the page comes back with the three still pending, in order.
  await writer.reload();
  await expect(writer.getByTestId("pending")).toHaveText(sent.map((t) => new RegExp(t)));
  // The tab closed and opened again: the same.
  await writer.close();
  writer = await context.newPage();
  await writer.goto(cluster.baseURL);
  await expect(writer.getByTestId("pending")).toHaveText(sent.map((t) => new RegExp(t)));

  // The next attempt (within the backoff's 2 s cap) connects.
  blocked.on = false;
  await connected(writer);
  await expect(writer.getByTestId("pending")).toHaveCount(0);
  await onceInOrder(reader, sent);
  await onceInOrder(writer, sent);
  expect(await keptKeys(writer)).toEqual([]);
  // A reload now sends nothing again.
  await writer.reload();
  await connected(writer);
  await onceInOrder(reader, sent);
});

test("with the load balancer stopped: type three, reload, bring it back, each arrives once", async ({ browser }) => {
  const run = uniqueTag();
  const sent = [1, 2, 3].map((i) => `offline ${run} ${i}`);
  const reader = await loggedIn(browser, cluster.baseURL, "Ruth");
  const writer = await loggedIn(browser, cluster.baseURL, "Walt");
  let up = false;
  try {
    cluster.run("lb-stop");
    await expect(writer.getByTestId("status")).toContainText("Connection lost");
    for (const text of sent) await say(writer, text);
    await expect(writer.getByTestId("pending")).toHaveCount(3);
    // Nothing answers: the browser shows its own error page.
    await expect(writer.reload()).rejects.toThrow();
    cluster.run("lb-start");
    up = true;
  } finally {
    if (!up) cluster.run("lb-start");
  }
  // The browser may still be settling on its error page: load the app once it can.
  await expect(async () => {
    await writer.goto(cluster.baseURL);
  }).toPass();
  await connected(writer);
  await expect(writer.getByTestId("pending")).toHaveCount(0);
  await onceInOrder(reader, sent);
  await onceInOrder(writer, sent);
});

test("signing out forgets the unsent messages", async ({ browser }) => {
  const page = await loggedIn(browser, cluster.baseURL, "Sid");
  await blockSockets(page.context());
  await page.reload();
  await expect(page.getByTestId("status")).toContainText("Connection lost");
  await say(page, `never sent ${uniqueTag()}`);
  await expect(page.getByTestId("pending")).toHaveCount(1);
  expect(await keptKeys(page)).toHaveLength(1);
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page.getByLabel("Your name")).toBeVisible();
  expect(await keptKeys(page)).toEqual([]);
});

test("storage that refuses the outbox: a note, and the message still goes", async ({ browser }) => {
  const page = await loggedIn(browser, cluster.baseURL, "Quinn");
  const context = page.context();
  await context.addInitScript(() => {
    const setItem = Storage.prototype.setItem;
    Storage.prototype.setItem = function (key: string, value: string) {
      if (key.startsWith("switchboard:outbox:")) throw new DOMException("full", "QuotaExceededError");
      return setItem.call(this, key, value);
    };
  });
  const blocked = await blockSockets(context);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.reload();
  await expect(page.getByTestId("status")).toContainText("Connection lost");
  const text = `kept in memory ${uniqueTag()}`;
  await say(page, text);
  await expect(page.getByTestId("pending")).toHaveCount(1);
  await expect(page.getByTestId("unkept")).toBeVisible();
  blocked.on = false;
  await connected(page);
  await expect(texts(page).filter({ hasText: text })).toHaveCount(1);
  await expect(page.getByTestId("unkept")).toHaveCount(0);
  expect(errors).toEqual([]);
});
