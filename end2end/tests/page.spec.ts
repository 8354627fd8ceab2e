import { expect, test } from "@playwright/test";
import { cluster } from "./cluster";
import { connected, loggedIn, say, texts, uniqueTag } from "./helpers";

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
  await expect(reader.locator(".msg.notice", { hasText: `${evilName} joined` }).first()).toBeVisible();
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
  await rooms.getByRole("link", { name: "#lobby" }).click();
  await expect(page.getByTestId("room-name")).toHaveText("#lobby");
  await expect(rooms).toBeHidden();
  await context.close();
});
