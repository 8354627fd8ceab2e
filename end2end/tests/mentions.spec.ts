// Mentions, notifications and read state across tabs, in Chromium through the load balancer:
// bo mentions ada (picked from the autocomplete) in a room neither of ada's two tabs has on
// screen; the hidden tab raises a notification (permission granted to the context, the
// Notification constructor recorded), both tabs count it in the room's badge and the title;
// reading it in one tab clears both; a muted room counts and notifies no more, in either tab.
import { expect, test, type Page } from "@playwright/test";
import { cluster } from "./cluster";
import { connected, say, signedUp, uniqueTag } from "./helpers";

/** Records every notification the page raises, then raises it as the browser would. */
function recordNotifications() {
  const Real = window.Notification;
  const raised: { title: string; body?: string }[] = [];
  (window as unknown as { raised: typeof raised }).raised = raised;
  class Recorded extends Real {
    constructor(title: string, options?: NotificationOptions) {
      raised.push({ title, body: options?.body });
      super(title, options);
    }
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  window.Notification = Recorded as typeof Notification;
}

function raised(page: Page) {
  return page.evaluate(() => (window as unknown as { raised: { title: string; body?: string }[] }).raised);
}

/** The tab goes to the background, as far as the page can tell. */
async function hide(page: Page) {
  await page.evaluate(() => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  });
}

function badge(page: Page, room: string) {
  return page.locator(`#rooms li[data-room="${room}"] [data-testid="unread"]`);
}

test("a mention notifies the hidden tab, reading in one tab clears both, muting quiets both", async ({ browser }) => {
  const tag = uniqueTag();
  const [adaHandle, boHandle] = [`ada-${tag}`, `bo-${tag}`];
  const [home, talk] = [`home-${tag}`, `talk-${tag}`];
  const ada = await signedUp(browser, adaHandle, { permissions: ["notifications"] });
  await ada.context().addInitScript(recordNotifications);
  // Both rooms open for ada (her list is kept for her, so every tab opens them), home on screen.
  await ada.goto(`${cluster.baseURL}/r/${talk}`);
  await connected(ada);
  await ada.goto(`${cluster.baseURL}/r/${home}`);
  await connected(ada);
  const other = await ada.context().newPage();
  await other.goto(`${cluster.baseURL}/r/${home}`);
  await connected(other);
  await expect(other.locator(`#rooms li[data-room="${talk}"]`)).toHaveCount(1);
  await hide(other);

  const bo = await signedUp(browser, boHandle);
  await bo.goto(`${cluster.baseURL}/r/${talk}`);
  await connected(bo);
  // The autocomplete offers the room's people by handle; Tab takes the one chosen.
  const composer = bo.getByTestId("composer");
  await composer.fill(`hi @${adaHandle.slice(0, 5)}`);
  await expect(bo.getByTestId("mention-list")).toContainText(`@${adaHandle}`);
  await composer.press("Tab");
  await expect(composer).toHaveValue(`hi @${adaHandle} `);
  await composer.pressSequentially(`lunch? ${tag}`);
  await composer.press("Enter");
  await expect(composer).toHaveValue("");

  // The hidden tab raises a notification; the visible one does not. Both count the mention.
  await expect.poll(async () => (await raised(other)).length).toBe(1);
  const [note] = await raised(other);
  expect(note.title).toBe(`${boHandle} in #${talk}`);
  expect(note.body).toBe(`hi @${adaHandle} lunch? ${tag}`);
  expect(await raised(ada)).toEqual([]);
  for (const page of [ada, other]) {
    await expect(badge(page, talk)).toHaveText("@1");
    await expect(page).toHaveTitle(`(1) #${home} · Switchboard`);
  }

  // ada reads it in the visible tab: the mention stands out, above it the divider; the other
  // tab's badge and title clear too (its read mark came from the server).
  await ada.locator(`#rooms li[data-room="${talk}"] a`).click();
  const mention = ada.locator(".msg.for-me .mention.me");
  await expect(mention).toHaveText(`@${adaHandle}`);
  await expect(ada.getByTestId("unread-divider")).toBeVisible();
  await expect(badge(other, talk)).toHaveCount(0);
  await expect(other).toHaveTitle(`#${home} · Switchboard`);
  await expect(ada).toHaveTitle(`#${talk} · Switchboard`);

  // Muted in one tab, muted in both: a new mention is counted in the room's badge but not in
  // the title, and raises no notification.
  await ada.getByTestId("mute").click();
  await expect(ada.getByTestId("mute")).toHaveAttribute("aria-pressed", "true");
  await ada.locator(`#rooms li[data-room="${home}"] a`).click();
  await expect(other.locator(`#rooms li[data-room="${talk}"]`)).toHaveClass(/muted/);
  await say(bo, `@${adaHandle} still there? ${tag}`);
  await expect(badge(other, talk)).toHaveText("@1");
  await expect(other).toHaveTitle(`#${home} · Switchboard`);
  expect((await raised(other)).length).toBe(1);

  for (const page of [ada, other, bo]) {
    await page.context().close().catch(() => {});
  }
});
