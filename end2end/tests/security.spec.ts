import { expect, test } from "@playwright/test";
import { cluster } from "./cluster";
import { loggedIn, say, texts, uniqueTag } from "./helpers";

test("the page hydrates and chats under its Content-Security-Policy, which blocks an injected script", async ({
  browser,
}) => {
  const tag = uniqueTag();
  const context = await browser.newContext();
  // Every policy violation the page reports, from its first script on.
  await context.addInitScript(() => {
    (window as any).__violations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      (window as any).__violations.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  const page = await context.newPage();
  const response = await page.goto(`${cluster.baseURL}/r/csp-${tag}`);
  const policy = response!.headers()["content-security-policy"];
  expect(policy).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9_-]{16,}' 'wasm-unsafe-eval'/);
  expect(policy).toContain("frame-ancestors 'none'");
  expect(response!.headers()["x-content-type-options"]).toBe("nosniff");

  await page.getByLabel("Your name").fill(`Csp-${tag}`);
  await page.getByRole("button", { name: "Join the chat" }).click();
  await expect(page.getByTestId("socket-instance")).toHaveText(/^app-\d+$/);
  await say(page, `under the policy ${tag}`);
  await expect(texts(page).filter({ hasText: `under the policy ${tag}` })).toHaveCount(1);
  // A refresh (server-rendered chat, then hydration) is clean too.
  await page.reload();
  await expect(page.getByTestId("socket-instance")).toHaveText(/^app-\d+$/);
  expect(await page.evaluate(() => (window as any).__violations)).toEqual([]);

  // What an injection would add: an inline script and an inline handler. Neither runs.
  await page.evaluate(() => {
    const script = document.createElement("script");
    script.textContent = "window.__injected = 'script'";
    document.body.append(script);
    document.body.insertAdjacentHTML("beforeend", `<img src="data:," onload="window.__injected = 'handler'">`);
  });
  await expect.poll(() => page.evaluate(() => (window as any).__violations.length)).toBeGreaterThanOrEqual(2);
  expect(await page.evaluate(() => (window as any).__injected)).toBeUndefined();
  await context.close();

  // Another user still gets the message: the instance is unharmed.
  const other = await loggedIn(browser, `${cluster.instanceURL(2)}/r/csp-${tag}`, `Other-${tag}`);
  await expect(texts(other).filter({ hasText: `under the policy ${tag}` })).toHaveCount(1);
  await other.context().close();
});
