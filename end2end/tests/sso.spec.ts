// Single sign-on in Chromium through a real OpenID provider (npm oidc-provider, started by
// scripts/cluster.sh on OIDC_PORT): its own login page and redirects, PKCE, state and nonce.
import { expect, test, type Page } from "@playwright/test";
import { cluster } from "./cluster";
import { connected, uniqueTag } from "./helpers";

/** Signs in at the provider's own login page as `login` (it takes any name; the password is ignored). */
async function atTheProvider(page: Page, login: string) {
  await page.locator("input[name=login]").fill(login);
  await page.locator("input[name=password]").fill("any");
  await page.getByRole("button", { name: "Sign-in" }).click();
}

test("sign in with the provider: an account is made from its username, and a refresh keeps it", async ({ browser }) => {
  const login = `sso-${uniqueTag()}`;
  const page = await (await browser.newContext()).newPage();
  await page.goto(cluster.baseURL);
  const callback = page.waitForRequest((r) => new URL(r.url()).pathname === "/auth/oidc/callback");
  await page.getByTestId("sso").click();
  await atTheProvider(page, login);
  const used = (await callback).url();
  await expect(page.getByTestId("me")).toHaveText(login[0].toUpperCase() + login.slice(1));
  await expect(page.locator(".who .handle")).toHaveText(`@${login}`);
  await connected(page);
  await page.reload();
  await expect(page.locator(".who .handle")).toHaveText(`@${login}`);

  // The same callback again (a replay): refused, and nobody is signed in by it.
  const replay = await (await browser.newContext()).newPage();
  const answer = await replay.goto(used);
  expect(answer?.status()).toBe(400);
  await expect(replay.getByRole("heading", { name: "Sign-in did not complete" })).toBeVisible();
  await replay.goto(cluster.baseURL);
  await expect(replay.getByTestId("sign-in-form")).toBeVisible();
});

test("a provider username that is taken here: the person chooses another handle, no accounts merge", async ({ browser }) => {
  const taken = `taken-${uniqueTag()}`;
  const owner = await (await browser.newContext()).newPage();
  await owner.goto(cluster.baseURL);
  await owner.getByText("New here? Create an account").click();
  await owner.getByLabel("Choose a handle").fill(taken);
  await owner.getByLabel("Password", { exact: true }).last().fill("violet tractor lagoon");
  await owner.getByRole("button", { name: "Create account" }).click();
  await expect(owner.getByTestId("me")).toHaveText(taken);

  const page = await (await browser.newContext()).newPage();
  await page.goto(cluster.baseURL);
  await page.getByTestId("sso").click();
  await atTheProvider(page, taken);
  await expect(page.getByTestId("choose-handle-form")).toBeVisible();
  await page.getByLabel("Handle").fill(`${taken}-too`);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.locator(".who .handle")).toHaveText(`@${taken}-too`);
  await connected(page);
});
