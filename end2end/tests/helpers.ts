import AxeBuilder from "@axe-core/playwright";
import { expect, type Browser, type BrowserContextOptions, type Page } from "@playwright/test";
import { cluster } from "./cluster";

/** The password every test account has. */
export const PASSWORD = "violet tractor lagoon";

/** A new browser context (of `options`) that creates the account `handle` on the sign-in page. */
export async function signedUp(browser: Browser, handle: string, options: BrowserContextOptions = {}): Promise<Page> {
  const page = await (await browser.newContext(options)).newPage();
  await signUp(page, handle);
  await connected(page);
  return page;
}

/** Creates the account `handle` on the sign-in page, in `page`; returns once the chat page shows it. */
export async function signUp(page: Page, handle: string) {
  await page.goto(cluster.baseURL);
  await page.getByText("New here? Create an account").click();
  await page.getByLabel("Choose a handle").fill(handle);
  await page.getByLabel("Password", { exact: true }).last().fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByTestId("me")).toHaveText(handle);
}

/** Runs axe-core on the page as it is now: no WCAG 2.1 A/AA violation is allowed. */
export async function audit(page: Page, what: string) {
  const { violations } = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"])
    .analyze();
  const found = violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  expect(found, `accessibility of ${what}`).toEqual([]);
}

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

/** Posts `n` messages to `room` over a socket of the page's own session, one after another, each
 * once acknowledged; one the server slows down (`rate_limited`) goes again when it says. */
export async function post(page: Page, room: string, n: number, prefix: string) {
  await page.evaluate(
    async ({ room, n, prefix }) => {
      const ws = new WebSocket(`${location.origin.replace("http", "ws")}/ws?room=${room}`);
      await new Promise((resolve) => ws.addEventListener("open", resolve, { once: true }));
      // The answer to the send of `id`: its ack, or how long to wait before sending it again.
      const answer = (id: string) =>
        new Promise<number>((resolve) => {
          const listen = (event: MessageEvent) => {
            const frame = JSON.parse(event.data);
            if (frame.client_id !== id) return;
            ws.removeEventListener("message", listen);
            resolve(frame.type === "ack" ? 0 : (frame.retry_after_ms ?? 1000));
          };
          ws.addEventListener("message", listen);
        });
      for (let i = 1; i <= n; i++) {
        const id = crypto.randomUUID();
        for (;;) {
          const answered = answer(id);
          ws.send(JSON.stringify({ type: "send", room, text: `${prefix} ${i}`, client_id: id }));
          const wait = await answered;
          if (wait === 0) break;
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }
      ws.close();
    },
    { room, n, prefix },
  );
}

/** The rows of notices that say `name` joined (or left): a row folds the notices that follow one
 * another ("ana and ben joined, cy left"), each verb in its own part. */
export function notice(page: Page, verb: "joined" | "left", name: string) {
  return page.locator(".msg.notice", { has: page.locator(`.${verb}`, { hasText: name }) });
}
