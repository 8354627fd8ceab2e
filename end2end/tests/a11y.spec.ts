import { expect, test } from "@playwright/test";
import { cluster } from "./cluster";
import { audit, connected, loggedIn, say, uniqueTag } from "./helpers";

for (const colorScheme of ["light", "dark"] as const) {
  test(`every screen passes an accessibility audit (${colorScheme})`, async ({ browser }) => {
    const tag = uniqueTag();
    const room = `audit-${tag}`;
    const context = await browser.newContext({ colorScheme });
    const page = await context.newPage();
    await page.goto(`${cluster.baseURL}/r/${room}`);
    await audit(page, "the login page");
    await page.getByLabel("Your name").fill(`Ada-${tag}`);
    await page.getByRole("button", { name: "Join the chat" }).click();
    await connected(page);
    await expect(page.getByTestId("room-empty")).toBeVisible();
    await audit(page, "an empty room");

    const other = await loggedIn(browser, `${cluster.instanceURL(2)}/r/${room}`, `Grace-${tag}`);
    await say(other, `Hello Ada, see https://example.com/${tag}`);
    await say(page, "/me waves");
    await say(page, "Hi Grace!");
    await expect(page.locator(".msg", { hasText: "Hi Grace!" })).toBeVisible();
    await expect(page.getByTestId("online")).toContainText(`Grace-${tag}`);
    await audit(page, "a conversation");

    await page.setViewportSize({ width: 360, height: 740 });
    await page.getByRole("button", { name: "Rooms" }).click();
    await expect(page.getByRole("navigation", { name: "Rooms" })).toBeVisible();
    await audit(page, "the rooms drawer on a phone");

    await page.goto(`${cluster.baseURL}/r/Not%20a%20room`);
    await expect(page.getByTestId("bad-room")).toBeVisible();
    await audit(page, "the page of a room that cannot be");
    await context.close();
    await other.context().close();
  });
}

test("the chat works from the keyboard alone", async ({ browser }) => {
  const tag = uniqueTag();
  const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
  const page = await context.newPage();
  await page.goto(cluster.baseURL);
  await page.getByLabel("Your name").fill(`Keys-${tag}`);
  await page.keyboard.press("Enter");
  await connected(page);

  // The first Tab offers a way past the header, straight to the message box.
  await page.keyboard.press("Tab");
  const skip = page.getByRole("link", { name: "Skip to the message box" });
  await expect(skip).toBeFocused();
  await expect(skip).toBeInViewport();
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("composer")).toBeFocused();

  // The drawer: opened from its button, it takes the focus; Escape closes it and gives it back.
  const toggle = page.getByRole("button", { name: "Rooms" });
  await toggle.focus();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: "#lobby" })).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(page.getByRole("navigation", { name: "Rooms" })).toBeHidden();
  await expect(toggle).toBeFocused();

  // A room joined by name, from the keyboard: the drawer opens on its current room, and the
  // next Tab reaches the room-name field.
  await page.keyboard.press("Enter");
  await expect(page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: "#lobby" })).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(page.getByLabel("Join or create a room")).toBeFocused();
  await page.keyboard.type(`keys-${tag}`);
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("room-name")).toHaveText(`#keys-${tag}`);
  await expect(page).toHaveURL(new RegExp(`/r/keys-${tag}$`));

  // Alt+Up and Alt+Down walk the open rooms.
  await page.getByTestId("composer").focus();
  await page.keyboard.press("Alt+ArrowUp");
  await expect(page.getByTestId("room-name")).toHaveText("#lobby");
  await page.keyboard.press("Alt+ArrowDown");
  await expect(page.getByTestId("room-name")).toHaveText(`#keys-${tag}`);

  // Focus is visible wherever it lands.
  const outline = await page.getByTestId("composer").evaluate((el) => {
    (el as HTMLElement).focus();
    return getComputedStyle(el).outlineStyle;
  });
  expect(outline).not.toBe("none");
  await context.close();
});
