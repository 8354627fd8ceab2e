import { expect, test } from "@playwright/test";
import { cluster } from "./cluster";
import { loggedIn, post, texts, uniqueTag } from "./helpers";

test("scrolling up loads older pages without moving what the reader sees, until the history begins", async ({
  browser,
}) => {
  const tag = uniqueTag();
  const room = `history-${tag}`;
  const alice = await loggedIn(browser, `${cluster.instanceURL(1)}/r/${room}`, `Alice-${tag}`);
  await post(alice, room, 120, tag);

  const bob = await loggedIn(browser, `${cluster.instanceURL(2)}/r/${room}`, `Bob-${tag}`);
  await expect(texts(bob).last()).toHaveText(`${tag} 120`);
  expect(await texts(bob).count()).toBeLessThanOrEqual(50);

  const list = bob.getByTestId("messages");
  for (let page = 0; page < 5; page++) {
    const edge = bob.getByTestId("history-edge");
    if ((await edge.textContent())?.includes("beginning")) break;
    const oldestText = await texts(bob).first().textContent();
    // The reader scrolls to the top, where the oldest message shown is...
    await list.evaluate((el) => (el.scrollTop = 0));
    await expect(texts(bob).first()).not.toHaveText(oldestText!);
    // ...and it stays there while the older page arrives above it (the list would otherwise
    // show the new page's top, 50 messages further up).
    const top = (await list.boundingBox())!.y;
    const again = bob.locator(".msg .text", { hasText: new RegExp(`^${oldestText}$`) });
    const at = (await again.boundingBox())!.y - top;
    expect(at).toBeGreaterThanOrEqual(0);
    expect(at).toBeLessThan(150);
  }
  await expect(bob.getByTestId("history-edge")).toHaveText(`This is the beginning of #${room}.`);
  const all = await texts(bob).allTextContents();
  expect(all.filter((t) => t.startsWith(tag))).toEqual(Array.from({ length: 120 }, (_, i) => `${tag} ${i + 1}`));
});

test("a new room says it is quiet; a short history is known to begin without asking; days are separated", async ({
  browser,
}) => {
  const tag = uniqueTag();
  const room = `quiet-${tag}`;
  const alice = await loggedIn(browser, `${cluster.instanceURL(1)}/r/${room}`, `Alice-${tag}`);
  await expect(alice.getByTestId("room-empty")).toContainText(`#${room} is quiet`);
  await post(alice, room, 3, tag);
  await expect(texts(alice)).toHaveCount(3);
  await expect(alice.getByTestId("room-empty")).toHaveCount(0);
  // Messages of today sit under "Today", once: the page knows the day after hydration.
  await expect(alice.locator(".day")).toHaveText(["Today"]);

  // A reader whose clock says it is tomorrow: the same messages are from yesterday.
  const context = await browser.newContext();
  const tomorrow = new Date(Date.now() + 24 * 3600 * 1000);
  await context.clock.setFixedTime(tomorrow);
  const bob = await context.newPage();
  await bob.goto(`${cluster.instanceURL(2)}/r/${room}`);
  await bob.getByLabel("Your name").fill(`Bob-${tag}`);
  await bob.getByRole("button", { name: "Join the chat" }).click();
  await expect(texts(bob)).toHaveCount(3);
  await expect(bob.locator(".day")).toHaveText(["Yesterday"]);
  // Three messages are the room's whole history: the page says so without asking for more.
  await bob.reload();
  await expect(bob.getByTestId("history-edge")).toHaveText(`This is the beginning of #${room}.`);
  await context.close();
});
