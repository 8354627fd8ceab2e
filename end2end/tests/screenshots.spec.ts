// The main screens, light and dark, desktop and phone. They land in the test's output folder;
// with UPDATE_SCREENSHOTS=1 in docs/screenshots, where the README shows them:
//   cd end2end && UPDATE_SCREENSHOTS=1 SWITCHBOARD_BIN=../target/debug/switchboard npx playwright test screenshots
import { expect, test, type Browser, type Page } from "@playwright/test";
import * as path from "node:path";
import { cluster } from "./cluster";
import { connected, say } from "./helpers";

const desktop = { width: 1280, height: 800 };
const phone = { width: 390, height: 844 };

function folder(outputPath: (name: string) => string): string {
  return process.env.UPDATE_SCREENSHOTS
    ? path.resolve(__dirname, "..", "..", "docs", "screenshots")
    : outputPath("screenshots");
}

async function person(browser: Browser, url: string, name: string, colorScheme: "light" | "dark") {
  const context = await browser.newContext({ viewport: desktop, colorScheme });
  const page = await context.newPage();
  await page.goto(url);
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Join the chat" }).click();
  await connected(page);
  return page;
}

/** Waits until the page looks settled: web fonts loaded, nothing pending. */
async function settled(page: Page) {
  await page.evaluate(() => document.fonts.ready);
  await expect(page.getByTestId("pending")).toHaveCount(0);
}

test("screenshots of the main screens", async ({ browser }, testInfo) => {
  // Five browser contexts and a dozen full-page screenshots: the suite's heaviest test.
  test.slow();
  const dir = folder((name) => testInfo.outputPath(name));
  const room = "design-review";
  const url = (i: number) => `${cluster.instanceURL(i)}/r/${room}`;

  for (const colorScheme of ["light", "dark"] as const) {
    const login = await browser.newContext({ viewport: phone, colorScheme });
    const loginPage = await login.newPage();
    await loginPage.goto(cluster.baseURL);
    await loginPage.getByLabel("Your name").fill("Ada");
    await loginPage.screenshot({ path: path.join(dir, `login-phone-${colorScheme}.png`), animations: "disabled" });
    await login.close();
  }

  const ada = await person(browser, url(1), "Ada", "light");
  const grace = await person(browser, url(2), "Grace", "dark");
  const linus = await person(browser, url(Math.min(3, cluster.size)), "Linus", "light");
  await say(ada, "Morning! The new drawer is in: try it at phone width.");
  await say(grace, "Looks great. Does it keep my scroll position per room?");
  await say(ada, "It does, and the outbox too. Switch rooms mid-send and nothing is lost.");
  await say(linus, "/me kills an instance to check");
  await say(linus, "Back in under a second, no duplicates. Notes: https://example.com/failover");
  await say(grace, "Ship it!");
  await expect(ada.getByTestId("online-count")).toHaveText("3");
  await linus.getByTestId("composer").fill("One more thing");

  for (const [who, scheme] of [
    [ada, "light"],
    [grace, "dark"],
  ] as const) {
    // Linus types on (one key, then another if the indicator had expired meanwhile).
    await expect(async () => {
      await linus.getByTestId("composer").press("End");
      await linus.keyboard.type(".");
      await expect(who.getByTestId("typing")).toHaveText("Linus is typing…", { timeout: 2_500 });
    }).toPass();
    await settled(who);
    await who.screenshot({ path: path.join(dir, `chat-desktop-${scheme}.png`), animations: "disabled" });
  }

  for (const [who, scheme] of [
    [ada, "light"],
    [grace, "dark"],
  ] as const) {
    await who.setViewportSize(phone);
    await who.getByTestId("messages").evaluate((el) => (el.scrollTop = el.scrollHeight));
    await settled(who);
    await who.screenshot({ path: path.join(dir, `chat-phone-${scheme}.png`), animations: "disabled" });
    await who.getByRole("button", { name: "Rooms" }).click();
    await expect(who.getByRole("navigation", { name: "Rooms" })).toBeVisible();
    await who.screenshot({ path: path.join(dir, `rooms-phone-${scheme}.png`), animations: "disabled" });
  }
  for (const page of [ada, grace, linus]) await page.context().close();
});
