import { expect, type Browser, type Page } from "@playwright/test";

/** A new browser context (its own cookies) logged in as `name` at `url`. */
export async function loggedIn(browser: Browser, url: string, name: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(url);
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Join the chat" }).click();
  await expect(page.getByTestId("me")).toHaveText(name);
  await connected(page);
  return page;
}

/** Waits until the page's socket is open (the header shows the instance it is on). */
export async function connected(page: Page) {
  await expect(page.getByTestId("socket-instance")).toHaveText(/^app-\d+$/);
}

/** Types `text` in the composer and sends it with Enter. */
export async function say(page: Page, text: string) {
  const composer = page.getByTestId("composer");
  await composer.fill(text);
  await composer.press("Enter");
  await expect(composer).toHaveValue("");
}

/** The texts of the chat messages (not notices) on the page, in order. */
export function texts(page: Page) {
  return page.locator(".msg:not(.notice) .text");
}

/** A short random tag that keeps a test's texts apart from earlier runs' (history persists). */
export function uniqueTag(): string {
  return Math.random().toString(36).slice(2, 8);
}

/** Posts `n` messages to `room` over a socket of the page's own session, waiting for each ack. */
export async function post(page: Page, room: string, n: number, prefix: string) {
  await page.evaluate(
    async ({ room, n, prefix }) => {
      const ws = new WebSocket(`${location.origin.replace("http", "ws")}/ws?room=${room}`);
      await new Promise((resolve) => ws.addEventListener("open", resolve, { once: true }));
      let acked = 0;
      const done = new Promise<void>((resolve) =>
        ws.addEventListener("message", (event) => {
          if (JSON.parse(event.data).type === "ack" && ++acked === n) resolve();
        }),
      );
      for (let i = 1; i <= n; i++) {
        ws.send(JSON.stringify({ type: "send", room, text: `${prefix} ${i}`, client_id: crypto.randomUUID() }));
      }
      await done;
      ws.close();
    },
    { room, n, prefix },
  );
}
