// The bundle in parts (app/src/later.rs): what a first paint does not need is fetched later, and a
// part whose code cannot be fetched says so and is fetched again, never breaking the page. The
// fetches that fail here are aborted by Playwright, as a dropped connection would end them.
import { expect, test, type Page } from "@playwright/test";
import { cluster } from "./cluster";
import { connected, signUp, uniqueTag } from "./helpers";

/** The bundle files the page fetched, by name (`split_socket.wasm`, `switchboard.wasm`, …). */
function fetched(page: Page): Set<string> {
  const names = new Set<string>();
  page.on("request", (request) => {
    const path = new URL(request.url()).pathname;
    if (path.startsWith("/pkg/") && path.endsWith(".wasm")) names.add(path.slice("/pkg/".length));
  });
  return names;
}

test("the sign-in page hydrates without the socket's code; the chat page fetches it after hydrating", async ({ browser }) => {
  const handle = `parts-${uniqueTag()}`;
  const page = await (await browser.newContext()).newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  const first = fetched(page);
  await page.goto(cluster.baseURL);
  await expect(page.getByTestId("sign-in-form")).toBeVisible();
  await expect.poll(() => first.has("switchboard.wasm")).toBe(true);
  expect(first.has("split_socket.wasm")).toBe(false);

  await signUp(page, handle);
  await connected(page);
  // A reload renders the chat page on the server; the socket's code comes after it hydrated.
  const second = fetched(page);
  await page.reload();
  await connected(page);
  expect(second.has("switchboard.wasm")).toBe(true);
  expect(second.has("split_socket.wasm")).toBe(true);
  // Both pages hydrated: a hydration mismatch would have thrown here.
  expect(errors).toEqual([]);
});

test("a panel whose code cannot be fetched says so, and comes when opened again", async ({ browser }) => {
  const context = await browser.newContext();
  await context.route("**/pkg/split_account.wasm", (route) => route.abort("connectionfailed"));
  const page = await context.newPage();
  await signUp(page, `offline-${uniqueTag()}`);
  await connected(page);
  const account = page.getByTestId("account");
  await account.getByText("Account", { exact: true }).click();
  await expect(account.getByTestId("unloaded")).toBeVisible();
  // The page goes on: the socket is up and the rest of the page works.
  await connected(page);

  await context.unroute("**/pkg/split_account.wasm");
  await account.getByText("Account", { exact: true }).click(); // closed
  await account.getByText("Account", { exact: true }).click(); // open again: fetched again
  await expect(page.getByRole("button", { name: "Change password" })).toBeVisible();
  await expect(account.getByTestId("unloaded")).toHaveCount(0);
});

test("the socket's code that cannot be fetched is fetched again, and the page connects", async ({ browser }) => {
  const context = await browser.newContext();
  await context.route("**/pkg/split_socket.wasm", (route) => route.abort("connectionfailed"));
  const page = await context.newPage();
  await signUp(page, `late-${uniqueTag()}`);
  // The banner says what happened and counts down to the next try.
  await expect(page.getByTestId("status")).toContainText("the page's code did not load");
  await expect(page.getByTestId("socket-instance")).not.toHaveText(/^app-\d+$/);

  await context.unroute("**/pkg/split_socket.wasm");
  await connected(page);
});
