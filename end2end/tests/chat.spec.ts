import { expect, test } from "@playwright/test";
import { cluster } from "./cluster";
import { connected, loggedIn, notice, say, texts, uniqueTag } from "./helpers";

test("two users on two different instances chat with each other", async ({ browser }) => {
  const tag = uniqueTag();
  const alice = await loggedIn(browser, cluster.instanceURL(1), `Alice-${tag}`);
  const bob = await loggedIn(browser, cluster.instanceURL(2), `Bob-${tag}`);
  await expect(alice.getByTestId("socket-instance")).toHaveText("app-1");
  await expect(bob.getByTestId("socket-instance")).toHaveText("app-2");

  const hello = `Hi Bob, I'm on app-1 (${tag})`;
  const reply = `Hi Alice, app-2 here (${tag})`;
  await say(alice, hello);
  await expect(bob.locator(".msg", { hasText: hello })).toContainText(`Alice-${tag}`);
  await say(bob, reply);
  await expect(alice.locator(".msg", { hasText: reply })).toBeVisible();

  // Own messages are highlighted, others' are not.
  await expect(alice.locator(".msg.mine", { hasText: hello })).toBeVisible();
  await expect(alice.locator(".msg:not(.mine)", { hasText: reply })).toBeVisible();

  await say(alice, `/me waves (${tag})`);
  await expect(bob.locator(".msg.action", { hasText: `* Alice-${tag} waves (${tag})` })).toBeVisible();
  await expect(notice(bob, "joined", `Alice-${tag}`).first()).toBeVisible();
});

test("a refresh keeps the user logged in and the server renders the chat", async ({ browser }) => {
  const page = await loggedIn(browser, cluster.baseURL, "Carol");
  const said = `before the refresh ${uniqueTag()}`;
  await say(page, said);

  const response = await page.reload();
  const html = (await response!.text()) as string;
  expect(html).toContain('data-testid="me" class="me">Carol<');
  expect(html).not.toContain('action="/api/login"');
  // The messages are in the page the server sent, before any script runs.
  expect(html).toContain(said);

  await expect(page.getByTestId("me")).toHaveText("Carol");
  await connected(page);
  await expect(texts(page).filter({ hasText: said })).toHaveCount(1);
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

test("logging out in one tab logs out the other tab too", async ({ browser }) => {
  const first = await loggedIn(browser, cluster.baseURL, "Lee");
  const second = await first.context().newPage();
  await second.goto(cluster.baseURL);
  await expect(second.getByTestId("me")).toHaveText("Lee");
  await connected(second);
  await second.getByRole("button", { name: "Log out" }).click();
  await expect(second.getByLabel("Your name")).toBeVisible();
  // The first tab's socket is closed by the server (4401) and the page shows the login form.
  await expect(first.getByLabel("Your name")).toBeVisible({ timeout: 10_000 });
});

test("a message the server refuses is marked failed with the reason; Retry and Discard work", async ({
  browser,
}) => {
  // A stand-in for a client bug: frames containing "refuse me" are rewritten on their way to the
  // real server to name another room, which the server refuses (permanently) with the client_id.
  const context = await browser.newContext();
  await context.routeWebSocket(/\/ws/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((message) => {
      const frame = JSON.parse(String(message));
      if (frame.type === "send" && String(frame.text).includes("refuse me")) frame.room = "elsewhere";
      server.send(JSON.stringify(frame));
    });
  });
  const page = await context.newPage();
  await page.goto(cluster.baseURL);
  await page.getByLabel("Your name").fill("Mia");
  await page.getByRole("button", { name: "Join the chat" }).click();
  await connected(page);

  const refused = `please refuse me ${uniqueTag()}`;
  await say(page, refused);
  const failed = page.getByTestId("failed");
  await expect(failed).toContainText(refused);
  await expect(page.getByTestId("failed-reason")).toContainText("not joined #elsewhere");
  await expect(page.getByTestId("pending")).toHaveCount(0);
  // Retry sends it again (refused again here); it is not re-sent on its own.
  await page.getByTestId("retry-send").click();
  await expect(failed).toHaveCount(1);
  await expect(page.getByTestId("failed-reason")).toContainText("not joined #elsewhere");
  await page.getByTestId("discard-send").click();
  await expect(failed).toHaveCount(0);
  // The socket is fine: the next message goes through, and the refused one never appeared.
  const fine = `this one is fine ${uniqueTag()}`;
  await say(page, fine);
  await expect(texts(page).filter({ hasText: fine })).toHaveCount(1);
  await expect(texts(page).filter({ hasText: refused })).toHaveCount(0);
  await context.close();
});
