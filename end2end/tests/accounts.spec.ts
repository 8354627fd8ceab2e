// Accounts in Chromium, through the load balancer onto three instances that share one Redis and
// one PostgreSQL: sign up, sign in, refresh, an instance killed under the user, sign-out in one
// tab closing the other's socket, and the errors a person reads.
import { expect, test, type Page } from "@playwright/test";
import { cluster } from "./cluster";
import { connected, PASSWORD, say, signedUp, texts, uniqueTag } from "./helpers";

async function signIn(page: Page, handle: string, password = PASSWORD) {
  await page.getByLabel("Handle", { exact: true }).fill(handle);
  await page.getByLabel("Password", { exact: true }).first().fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("sign up, refresh, and an instance killed under the user: never a sign-in page", async ({ browser }) => {
  const handle = `ada-${uniqueTag()}`;
  const page = await signedUp(browser, handle);
  await expect(page.locator(".who .handle")).toHaveText(`@${handle}`);

  // A refresh: the server renders the chat, signed in, with no sign-in form in between.
  const response = await page.reload();
  const html = (await response?.text()) ?? "";
  expect(html).toContain('data-testid="me"');
  expect(html).not.toContain('data-testid="sign-in-form"');
  await connected(page);

  const said = `said by an account ${uniqueTag()}`;
  await say(page, said);
  const victim = Number(((await page.getByTestId("socket-instance").textContent()) ?? "").replace("app-", ""));
  try {
    cluster.run("kill", String(victim));
    await expect(page.getByTestId("socket-instance")).not.toHaveText(`app-${victim}`, { timeout: 20_000 });
    await connected(page);
    await expect(page.getByTestId("sign-in-form")).toHaveCount(0);
    await expect(page.getByTestId("me")).toHaveText(handle);
    await expect(texts(page).filter({ hasText: said })).toHaveCount(1);
  } finally {
    cluster.run("start", String(victim));
  }
});

test("another person sees the account's handle beside its name, and a guest marked as a guest", async ({ browser }) => {
  const handle = `grace-${uniqueTag()}`;
  const grace = await signedUp(browser, handle);
  const guest = await (await browser.newContext()).newPage();
  await guest.goto(cluster.baseURL);
  const guestName = `Visitor-${uniqueTag()}`;
  await guest.getByLabel("Your name").fill(guestName);
  await guest.getByRole("button", { name: "Join the chat" }).click();
  await connected(guest);
  await expect(guest.locator(".who .guest")).toHaveText("guest");

  const said = `hello from ${handle}`;
  await say(grace, said);
  await expect(guest.locator(".msg", { hasText: said }).locator(".author")).toHaveText(`${handle} @${handle}`);
  const back = `hello from the visitor ${uniqueTag()}`;
  await say(guest, back);
  await expect(grace.locator(".msg", { hasText: back }).locator(".author .guest")).toHaveText("guest");

  // A guest cannot take an account's handle as their name.
  const impostor = await (await browser.newContext()).newPage();
  await impostor.goto(cluster.baseURL);
  await impostor.getByLabel("Your name").fill(handle.toUpperCase());
  await impostor.getByRole("button", { name: "Join the chat" }).click();
  await expect(impostor.getByTestId("login-error")).toHaveText(
    "That name belongs to an account. Sign in, or join under another name.",
  );
});

test("a taken handle, a weak password and a wrong password each say what happened", async ({ browser }) => {
  const handle = `kay-${uniqueTag()}`;
  await signedUp(browser, handle);
  const page = await (await browser.newContext()).newPage();
  await page.goto(cluster.baseURL);

  await page.getByText("New here? Create an account").click();
  await page.getByLabel("Choose a handle").fill(handle.toUpperCase());
  await page.getByLabel("Password", { exact: true }).last().fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByTestId("sign-up-error")).toHaveText("That handle is taken. Please choose another.");

  await page.getByLabel("Choose a handle").fill(`${handle}-2`);
  await page.getByLabel("Password", { exact: true }).last().fill("password1");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByTestId("sign-up-error")).toContainText("among the first ones attackers try");

  await signIn(page, handle, "not the password");
  await expect(page.getByTestId("sign-in-error")).toHaveText("That handle and password do not match an account.");
  await signIn(page, handle);
  await expect(page.getByTestId("me")).toHaveText(handle);
  await connected(page);
});

test("signing out in one tab closes the other tab's socket and shows it the sign-in page", async ({ browser }) => {
  const handle = `lee-${uniqueTag()}`;
  const first = await signedUp(browser, handle);
  const second = await first.context().newPage();
  await second.goto(cluster.baseURL);
  await expect(second.getByTestId("me")).toHaveText(handle);
  await connected(second);
  await second.getByRole("button", { name: "Log out" }).click();
  await expect(second.getByTestId("sign-in-form")).toBeVisible();
  // The first tab's socket is closed by the server (4401), and the page shows the sign-in form.
  await expect(first.getByTestId("sign-in-form")).toBeVisible({ timeout: 10_000 });
  // Signing in again works, on any instance.
  await signIn(first, handle.toUpperCase());
  await expect(first.getByTestId("me")).toHaveText(handle);
  await connected(first);
});

test("a password changed on one device signs the account out on the others", async ({ browser }) => {
  const handle = `kim-${uniqueTag()}`;
  const laptop = await signedUp(browser, handle);
  const phone = await (await browser.newContext()).newPage();
  await phone.goto(cluster.baseURL);
  await signIn(phone, handle);
  await expect(phone.getByTestId("me")).toHaveText(handle);
  await connected(phone);

  await laptop.getByText("Account", { exact: true }).click();
  await laptop.getByLabel("Current password").fill(PASSWORD);
  await laptop.getByLabel("New password").fill("orange kettle meadow");
  await laptop.getByRole("button", { name: "Change password" }).click();
  await expect(laptop.getByTestId("change-password-result")).toHaveText(
    "Password changed. Your other devices are signed out.",
  );
  // The phone's socket is closed by the server and its page asks it to sign in again.
  await expect(phone.getByTestId("sign-in-form")).toBeVisible({ timeout: 10_000 });
  // The laptop goes on, through a refresh too.
  await laptop.reload();
  await expect(laptop.getByTestId("me")).toHaveText(handle);
  await connected(laptop);
  await signIn(phone, handle, "orange kettle meadow");
  await expect(phone.getByTestId("me")).toHaveText(handle);
});

test("a deleted account is signed out, and its handle is free again", async ({ browser }) => {
  const handle = `del-${uniqueTag()}`;
  const page = await signedUp(browser, handle);
  await page.getByText("Account", { exact: true }).click();
  await page.getByLabel("Password", { exact: true }).fill("not it");
  await page.getByRole("button", { name: "Delete my account" }).click();
  await expect(page.getByTestId("delete-account-error")).toHaveText(
    "That handle and password do not match an account.",
  );
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByRole("button", { name: "Delete my account" }).click();
  await expect(page.getByTestId("sign-in-form")).toBeVisible();
  await signIn(page, handle);
  await expect(page.getByTestId("sign-in-error")).toHaveText("That handle and password do not match an account.");
  await signedUp(browser, handle);
});
