import { expect, test } from "@playwright/test";
import { cluster } from "./cluster";
import { connected, loggedIn, notice, post, say, texts, uniqueTag } from "./helpers";

test("names, rooms and messages with markup render as text; web addresses as safe links", async ({ browser }) => {
  const tag = uniqueTag();
  const evilName = `<img src=x onerror="window.__pwned=1">${tag}`.slice(0, 32);
  const evil = await loggedIn(browser, cluster.baseURL, evilName);
  const reader = await loggedIn(browser, cluster.instanceURL(1), `Reader-${tag}`);
  const payload = `<script>window.__pwned=1</script><b>bold?</b> see https://example.com/${tag}.`;
  await say(evil, payload);
  for (const page of [evil, reader]) {
    await expect(texts(page).filter({ hasText: "<script>window.__pwned=1</script>" })).toHaveCount(1);
    await expect(page.locator(".msg", { hasText: payload.slice(0, 20) }).locator("b")).toHaveCount(0);
    const link = page.locator(".msg .text a", { hasText: `https://example.com/${tag}` });
    await expect(link).toHaveAttribute("href", `https://example.com/${tag}`);
    await expect(link).toHaveAttribute("rel", "noopener noreferrer");
    await expect(link).toHaveAttribute("target", "_blank");
  }
  await expect(notice(reader, "joined", evilName).first()).toBeVisible();
  await expect(reader.getByTestId("online")).toContainText(evilName);
  expect(await reader.evaluate(() => (window as any).__pwned)).toBeUndefined();
  expect(await evil.evaluate(() => (window as any).__pwned)).toBeUndefined();

  // A room name with markup is not a room: the page says so, as text.
  await reader.goto(`${cluster.instanceURL(1)}/r/%3Cimg%20src=x%20onerror=window.__pwned=1%3E`);
  await expect(reader.getByTestId("bad-room")).toContainText("There is no such room");
  expect(await reader.evaluate(() => (window as any).__pwned)).toBeUndefined();
});

test("on a phone-width screen the header keeps the room and the user apart, and the rooms are a drawer", async ({
  browser,
}) => {
  const tag = uniqueTag();
  const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
  const page = await context.newPage();
  await page.goto(`${cluster.baseURL}/r/phone-${tag}`);
  await page.getByLabel("Your name").fill(`A-rather-long-name-${tag}`);
  await page.getByRole("button", { name: "Join the chat" }).click();
  await expect(page.getByTestId("room-name")).toHaveText(`#phone-${tag}`);
  await connected(page);

  const room = (await page.getByTestId("room-name").boundingBox())!;
  const me = (await page.getByTestId("me").boundingBox())!;
  expect(room.width).toBeGreaterThan(0);
  expect(room.x + room.width).toBeLessThanOrEqual(me.x + 1);
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(scrollWidth).toBeLessThanOrEqual(360);

  const rooms = page.getByRole("navigation", { name: "Rooms" });
  await expect(rooms).toBeHidden();
  await page.getByRole("button", { name: "Rooms" }).click();
  await expect(rooms).toBeVisible();
  // The header has no room for Mute: the drawer has it, for the room on screen.
  await expect(page.getByTestId("mute")).toBeHidden();
  const mute = rooms.getByRole("button", { name: "Mute" });
  await mute.click();
  await expect(rooms.getByRole("button", { name: "Unmute" })).toHaveAttribute("aria-pressed", "true");
  await rooms.getByRole("button", { name: "Unmute" }).click();
  await expect(mute).toHaveAttribute("aria-pressed", "false");
  // A tap beside the open drawer closes it.
  await page.mouse.click(350, 400);
  await expect(rooms).toBeHidden();
  await page.getByRole("button", { name: "Rooms" }).click();
  await expect(rooms).toBeVisible();
  await rooms.getByRole("link", { name: "#lobby" }).click();
  await expect(page.getByTestId("room-name")).toHaveText("#lobby");
  await expect(rooms).toBeHidden();
  await context.close();
});

test("a reader scrolled up is offered the new messages; turns are grouped; a hidden tab counts unread in its title", async ({
  browser,
}) => {
  const tag = uniqueTag();
  const room = `polish-${tag}`;
  const alice = await loggedIn(browser, `${cluster.instanceURL(1)}/r/${room}`, `Alice-${tag}`);
  await post(alice, room, 40, `filler ${tag}`);
  const bob = await loggedIn(browser, `${cluster.instanceURL(2)}/r/${room}`, `Bob-${tag}`);
  await expect(texts(bob).last()).toHaveText(`filler ${tag} 40`);

  // Two messages in a row from alice: the second continues her turn, without her name again.
  await say(alice, `first of two ${tag}`);
  await say(alice, `second of two ${tag}`);
  await expect(bob.locator(".msg.grouped", { hasText: `second of two ${tag}` })).toHaveCount(1);
  await expect(bob.locator(".msg:not(.grouped)", { hasText: `first of two ${tag}` })).toHaveCount(1);

  // Bob scrolls up to read; a new message does not pull him down but offers itself.
  await bob.getByTestId("messages").evaluate((el) => (el.scrollTop = 200));
  await say(alice, `while bob reads ${tag}`);
  const offer = bob.getByTestId("new-messages");
  await expect(offer).toBeVisible();
  expect(await bob.getByTestId("messages").evaluate((el) => el.scrollTop)).toBeLessThan(400);
  await offer.click();
  await expect(offer).toHaveCount(0);
  await expect(bob.locator(".msg", { hasText: `while bob reads ${tag}` })).toBeInViewport();

  // The tab goes to the background: what arrives is counted in its title until it is back.
  const setHidden = (hidden: boolean) =>
    bob.evaluate((hidden) => {
      Object.defineProperty(document, "hidden", { value: hidden, configurable: true });
      document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
    }, hidden);
  // (Unread messages in bob's other rooms, if other tests wrote in the lobby, count too.)
  const before = Number(/^\((\d+)\)/.exec(await bob.title())?.[1] ?? 0);
  await setHidden(true);
  await say(alice, `while hidden 1 ${tag}`);
  await say(alice, `while hidden 2 ${tag}`);
  await expect(bob).toHaveTitle(`(${before + 2}) #${room} · Switchboard`);
  await setHidden(false);
  await expect(bob).toHaveTitle(before ? `(${before}) #${room} · Switchboard` : `#${room} · Switchboard`);
});
