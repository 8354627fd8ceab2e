import { expect, test } from "@playwright/test";
import { cluster } from "./cluster";
import { connected, loggedIn, say, texts } from "./helpers";

test("two users on two different instances chat with each other", async ({ browser }) => {
  const alice = await loggedIn(browser, cluster.instanceURL(1), "Alice");
  const bob = await loggedIn(browser, cluster.instanceURL(2), "Bob");
  await expect(alice.getByTestId("socket-instance")).toHaveText("app-1");
  await expect(bob.getByTestId("socket-instance")).toHaveText("app-2");

  await say(alice, "Hi Bob, I'm on app-1");
  await expect(bob.locator(".msg", { hasText: "Hi Bob, I'm on app-1" })).toContainText("Alice");
  await say(bob, "Hi Alice, app-2 here");
  await expect(alice.locator(".msg", { hasText: "Hi Alice, app-2 here" })).toBeVisible();

  // Own messages are highlighted, others' are not.
  await expect(alice.locator(".msg.mine", { hasText: "Hi Bob" })).toBeVisible();
  await expect(alice.locator(".msg:not(.mine)", { hasText: "Hi Alice" })).toBeVisible();

  await say(alice, "/me waves");
  await expect(bob.locator(".msg.action", { hasText: "* Alice waves" })).toBeVisible();
  await expect(bob.locator(".msg.notice", { hasText: "Alice joined" }).first()).toBeVisible();
});

test("a refresh keeps the user logged in and the server renders the chat", async ({ browser }) => {
  const page = await loggedIn(browser, cluster.baseURL, "Carol");
  await say(page, "before the refresh");

  const response = await page.reload();
  const html = (await response!.text()) as string;
  expect(html).toContain('data-testid="me" class="me">Carol<');
  expect(html).not.toContain('action="/api/login"');

  await expect(page.getByTestId("me")).toHaveText("Carol");
  await connected(page);
  await expect(texts(page).filter({ hasText: "before the refresh" })).toHaveCount(1);
});

test("an invalid name is refused with a clear message", async ({ browser }) => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(cluster.baseURL);
  await page.getByLabel("Your name").fill("   ");
  await page.getByRole("button", { name: "Join the chat" }).click();
  await expect(page.getByTestId("login-error")).toHaveText("Please enter a name.");
  await page.getByLabel("Your name").fill("x".repeat(40));
  await expect(page.getByLabel("Your name")).toHaveValue("x".repeat(32));
});

test("logging out returns to the login form and ends the session", async ({ browser }) => {
  const page = await loggedIn(browser, cluster.baseURL, "Dave");
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page.getByLabel("Your name")).toBeVisible();
  await page.reload();
  await expect(page.getByLabel("Your name")).toBeVisible();
  const cookies = await page.context().cookies();
  expect(cookies.find((c) => c.name === "JSESSIONID")).toBeUndefined();
});
