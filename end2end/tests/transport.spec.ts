// The second transport (issue 21): where WebSockets are blocked, the page chats over Server-Sent
// Events and posts, through any instance, resumes exactly when the instance serving its stream
// dies, and moves back to a WebSocket once upgrades get through again.
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

async function onceInOrder(page: Page, sent: string[]) {
  for (const text of sent) await expect(texts(page).filter({ hasText: text })).toHaveCount(1);
  const shown = (await texts(page).allTextContents()).filter((t) => sent.includes(t));
  expect(shown).toEqual(sent);
}

test("WebSockets blocked: chat over an event stream, resume when its instance dies, move back", async ({
  browser,
}) => {
  test.setTimeout(120_000);
  const run = uniqueTag();
  let blocked = true;
  let killed: number | undefined;
  cluster.run("ws-block");
  try {
    const page = await loggedIn(browser, cluster.baseURL, "Sasha");
    await expect(page.getByTestId("transport")).toBeVisible();
    const victim = await instanceOf(page);
    // Someone on a WebSocket, straight to another instance (not through the blocking proxy).
    const peer = await loggedIn(browser, cluster.instanceURL(other(victim)), "Piet");

    const first = `over the stream ${run}`;
    await say(page, first);
    await onceInOrder(peer, [first]);
    const answer = `to the stream ${run}`;
    await say(peer, answer);
    await onceInOrder(page, [answer]);

    // The instance serving the stream dies: the page comes back elsewhere, still on events,
    // and what was said meanwhile arrives once, in order.
    cluster.run("kill", String(victim));
    killed = victim;
    const during = [1, 2, 3].map((i) => `while the stream was down ${run} ${i}`);
    for (const text of during) await say(peer, text);
    await expect(page.getByTestId("socket-instance")).not.toHaveText(`app-${victim}`, { timeout: 20_000 });
    await connected(page);
    await onceInOrder(page, [answer, ...during]);
    const back = `back on a stream ${run}`;
    await say(page, back);
    await onceInOrder(peer, [first, back]);
    await expect(page.getByTestId("transport")).toBeVisible();
    cluster.run("start", String(victim));
    killed = undefined;

    // Upgrades get through again: the page moves back to a WebSocket by itself.
    cluster.run("ws-allow");
    blocked = false;
    await expect(page.getByTestId("transport")).toHaveCount(0, { timeout: 45_000 });
    await connected(page);
    const after = `on a socket again ${run}`;
    await say(page, after);
    await onceInOrder(peer, [first, back, after]);
    await expect(page.getByTestId("pending")).toHaveCount(0);
  } finally {
    if (killed !== undefined) cluster.run("start", String(killed));
    if (blocked) cluster.run("ws-allow");
  }
});
