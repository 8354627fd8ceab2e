// What a new user trips over (issue 22): each test is one rough edge found in Chromium, on the
// screen size or colour scheme where it was found.
import { expect, test, type Page } from "@playwright/test";
import { cluster } from "./cluster";
import { connected, loggedIn, notice, post, say, texts, uniqueTag } from "./helpers";

const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

/** Logs in as `name` at `url` in a new context with `options` (a phone, a colour scheme). */
async function loggedInWith(page: Page, url: string, name: string) {
  await page.goto(url);
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Join the chat" }).click();
  await expect(page.getByTestId("me")).toHaveText(name);
  await connected(page);
}

test("on a phone, your own message is followed into view, with no offer of new messages over it", async ({
  browser,
}) => {
  const tag = uniqueTag();
  const room = `phone-send-${tag}`;
  const context = await browser.newContext(phone);
  const page = await context.newPage();
  await loggedInWith(page, `${cluster.baseURL}/r/${room}`, `Pia-${tag}`);
  await post(page, room, 40, `filler ${tag}`);
  await expect(texts(page).last()).toHaveText(`filler ${tag} 40`);
  const list = page.getByTestId("messages");
  expect(await list.evaluate((el) => el.scrollHeight > el.clientHeight)).toBe(true);

  // Tapped, as on a phone, and the list bounces (momentum scrolling) before the message is
  // confirmed: all in one task, so the confirmation comes after the bounce.
  await page.getByTestId("composer").fill(`mine ${tag}`);
  await page.evaluate(() => {
    (document.querySelector('.composer button[type="submit"]') as HTMLButtonElement).click();
    const list = document.querySelector('[data-testid="messages"]') as HTMLElement;
    list.scrollTop = list.scrollHeight - list.clientHeight - 300;
    list.dispatchEvent(new Event("scroll"));
  });
  const mine = page.locator(".msg.mine:not(.pending)", { hasText: `mine ${tag}` });
  await expect(mine).toHaveCount(1);
  await expect(mine).toBeInViewport();
  await expect(page.getByTestId("new-messages")).toHaveCount(0);
  await context.close();
});

test("a room with no messages yet says so once: no join lines beside its quiet state", async ({ browser }) => {
  const tag = uniqueTag();
  const url = `${cluster.baseURL}/r/empty-${tag}`;
  const ana = await loggedIn(browser, url, `Ana-${tag}`);
  await expect(ana.getByTestId("room-empty")).toBeVisible();
  const ben = await loggedIn(browser, url, `Ben-${tag}`);
  // Ana sees Ben arrive in the room's state and the online list, not as a notice.
  await expect(ana.getByTestId("online")).toContainText(`Ben-${tag}`);
  await expect(ana.getByTestId("room-empty")).toContainText(`Ben-${tag}`);
  await expect(ana.locator(".msg.notice")).toHaveCount(0);
  await expect(ben.locator(".msg.notice")).toHaveCount(0);
  // The first message ends the quiet state.
  await say(ben, `hello ${tag}`);
  await expect(ana.getByTestId("room-empty")).toHaveCount(0);
  await expect(texts(ana)).toHaveText([`hello ${tag}`]);
});

test("a room address in capitals goes to the room's own address; a bad address names no room as current", async ({
  browser,
}) => {
  const tag = uniqueTag();
  const page = await loggedIn(browser, `${cluster.baseURL}/r/caps-${tag}`, `Cap-${tag}`);
  await page.goto(`${cluster.baseURL}/r/CAPS-${tag.toUpperCase()}`);
  await expect(page).toHaveURL(`${cluster.baseURL}/r/caps-${tag}`);
  await expect(page.getByTestId("room-name")).toHaveText(`#caps-${tag}`);
  await expect(page.getByTestId("bad-room")).toHaveCount(0);

  // Followed from inside the page too (a link in a message), without a reload.
  await page.evaluate((tag) => {
    const a = document.createElement("a");
    a.href = `/r/LINKED-${tag.toUpperCase()}`;
    a.textContent = "capitals";
    a.id = "caps-link";
    document.querySelector(".messages")!.append(a);
  }, tag);
  await page.locator("#caps-link").click();
  await expect(page).toHaveURL(`${cluster.baseURL}/r/linked-${tag}`);
  await expect(page.getByTestId("room-name")).toHaveText(`#linked-${tag}`);

  await page.goto(`${cluster.baseURL}/r/no%20such%20room`);
  await expect(page.getByTestId("bad-room")).toBeVisible();
  await expect(page.getByTestId("room-name")).toHaveText("No such room");
  await expect(page.locator(".rooms li.current")).toHaveCount(0);
  await expect(page.locator('.rooms [aria-current="page"]')).toHaveCount(0);
});

test("with every instance down the header says offline and the online list is dimmed; a returning service is found within 2 s", async ({
  browser,
}) => {
  const tag = uniqueTag();
  const page = await loggedIn(browser, cluster.baseURL, `Otto-${tag}`);
  await expect(page.getByTestId("online")).toContainText(`Otto-${tag}`);
  await expect(page.getByTestId("online")).toHaveAttribute("data-stale", "false");
  // Every countdown the banner shows, as it shows it.
  await page.evaluate(() => {
    const w = window as any;
    w.__waits = [];
    new MutationObserver(() => {
      const found = /Reconnecting in (\d+) s/.exec(document.querySelector('[data-testid="status"]')?.textContent ?? "");
      if (found) w.__waits.push(Number(found[1]));
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  let probes = 0;
  page.on("request", (r) => {
    if (new URL(r.url()).pathname === "/" && r.headers()["x-switchboard-probe"]) probes++;
  });
  try {
    for (let i = 1; i <= cluster.size; i++) cluster.run("kill", String(i));
    await expect(page.getByTestId("status")).toContainText("Connection lost");
    await expect(page.getByTestId("socket-instance")).toHaveText("offline");
    await expect(page.getByTestId("online")).toHaveAttribute("data-stale", "true");
    // Seven failed probes in a row: the backoff has long reached its ceiling.
    await expect.poll(() => probes, { timeout: 60_000 }).toBeGreaterThanOrEqual(7);
    const waits: number[] = await page.evaluate(() => (window as any).__waits);
    expect(waits.length).toBeGreaterThan(0);
    expect(Math.max(...waits)).toBeLessThanOrEqual(2);
  } finally {
    for (let i = 1; i <= cluster.size; i++) cluster.run("start", String(i));
  }
  await connected(page);
  await expect(page.getByTestId("online")).toHaveAttribute("data-stale", "false");
});

test("on a phone the header shows which instance serves the socket", async ({ browser }) => {
  const tag = uniqueTag();
  const context = await browser.newContext(phone);
  const page = await context.newPage();
  await loggedInWith(page, cluster.baseURL, `Phil-${tag}`);
  const instance = page.getByTestId("socket-instance");
  await expect(instance).toBeVisible();
  await expect(instance).toBeInViewport({ ratio: 1 });
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(scrollWidth).toBeLessThanOrEqual(390);
  await context.close();
});

for (const colorScheme of ["light", "dark"] as const) {
  test(`an empty composer's Send button looks disabled (${colorScheme})`, async ({ browser }) => {
    const tag = uniqueTag();
    const context = await browser.newContext({ colorScheme });
    const page = await context.newPage();
    await loggedInWith(page, cluster.baseURL, `Dee-${tag}`);
    const send = page.getByRole("button", { name: "Send" });
    const look = () =>
      send.evaluate((el) => {
        const style = getComputedStyle(el);
        return { background: style.backgroundColor, color: style.color };
      });
    await expect(send).toBeDisabled();
    const disabled = await look();
    await page.getByTestId("composer").fill("something to send");
    await expect(send).toBeEnabled();
    const enabled = await look();
    // Disabled is not the accent colour dimmed: it has a look of its own.
    expect(disabled.background).not.toBe(enabled.background);
    expect(disabled.color).not.toBe(enabled.color);
    await context.close();
  });
}

test("every page has a description", async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(cluster.baseURL);
  await expect(page.locator('meta[name="description"]')).toHaveAttribute("content", /\w{3,}.{20,}/);
  await page.getByLabel("Your name").fill(`Meta-${uniqueTag()}`);
  await page.getByRole("button", { name: "Join the chat" }).click();
  await connected(page);
  await expect(page.locator('meta[name="description"]')).toHaveCount(1);
  await expect(page.locator('meta[name="description"]')).toHaveAttribute("content", /\w{3,}.{20,}/);
  await context.close();
});

test("the rooms a person opens are theirs: a reload and another tab open them all, and news there reaches them", async ({
  browser,
}) => {
  const tag = uniqueTag();
  const room = `feat-${tag}`;
  const ben = await loggedIn(browser, `${cluster.baseURL}/r/${room}`, `Ben-${tag}`);
  const ana = await loggedIn(browser, `${cluster.baseURL}/r/${room}`, `Ana-${tag}`);
  const link = (page: Page) => page.locator(`.rooms li[data-room="${room}"]`);

  // A new page load on the lobby still lists the room...
  await ben.goto(`${cluster.baseURL}/`);
  await connected(ben);
  await expect(link(ben)).toHaveCount(1);
  // ...and it is joined: what is said there is counted for Ben, in the list and the title.
  await say(ana, `@Ben-${tag} are you there?`);
  await expect(link(ben).getByTestId("unread")).toHaveText("1");
  await expect(ben).toHaveTitle(/^\(1\) /);

  // Another tab of the same session, and a reload, open it too.
  const tab = await ben.context().newPage();
  await tab.goto(`${cluster.baseURL}/`);
  await connected(tab);
  await expect(link(tab)).toHaveCount(1);

  // Closed in one tab, it closes in the other when that one is looked at again; a room opened
  // in one appears in the other.
  const lookAt = (page: Page) =>
    page.evaluate(() => document.dispatchEvent(new Event("visibilitychange", { bubbles: true })));
  await link(ben).getByRole("button", { name: `Close #${room}` }).click();
  await expect(link(ben)).toHaveCount(0);
  await ben.getByTestId("join-room").fill(`more-${tag}`);
  await ben.getByTestId("join-room").press("Enter");
  await expect(ben.getByTestId("room-name")).toHaveText(`#more-${tag}`);
  await expect(ben.getByTestId("status")).toHaveCount(0);
  await expect(ben.locator(`.rooms li[data-room="more-${tag}"]`)).toHaveCount(1);
  await expect(ben.getByTestId("history-edge")).toBeVisible();
  await expect
    .poll(async () => {
      await lookAt(tab);
      return [await link(tab).count(), await tab.locator(`.rooms li[data-room="more-${tag}"]`).count()];
    })
    .toEqual([0, 1]);
  // Closed, it stays closed.
  await tab.reload();
  await connected(tab);
  await expect(tab.locator('.rooms li[data-room="lobby"]')).toHaveCount(1);
  await expect(link(tab)).toHaveCount(0);
});

test("moving between rooms and loading pages is not news; notices in a row fold into one", async ({ browser }) => {
  const tag = uniqueTag();
  const room = `news-${tag}`;
  const url = `${cluster.baseURL}/r/${room}`;
  const ana = await loggedIn(browser, url, `Ana-${tag}`);
  await say(ana, `welcome ${tag}`);
  const ben = await loggedIn(browser, url, `Ben-${tag}`);
  const cy = await loggedIn(browser, url, `Cy-${tag}`);
  const di = await loggedIn(browser, url, `Di-${tag}`);
  await expect(ana.getByTestId("online-count")).toHaveText("4");
  await say(ana, `all here ${tag}`);

  // Ben moves to the lobby in a new page load, and stays there.
  await ben.goto(`${cluster.baseURL}/`);
  await connected(ben);
  // Cy really leaves; once the room reads it, Ben's move would have been read too.
  await cy.context().close();
  await expect(notice(ana, "left", `Cy-${tag}`)).toHaveCount(1, { timeout: 20_000 });
  await expect(notice(ana, "left", `Ben-${tag}`)).toHaveCount(0);
  await expect(ana.getByTestId("online")).toContainText(`Ben-${tag}`);

  // Di leaves too, with nobody speaking since Cy: one row says both.
  await di.context().close();
  await expect(notice(ana, "left", `Di-${tag}`)).toHaveCount(1, { timeout: 20_000 });
  const row = notice(ana, "left", `Cy-${tag}`);
  await expect(row).toHaveCount(1);
  await expect(row).toContainText(`Di-${tag}`);

  // Ben comes back to the room: still not news.
  await ben.goto(url);
  await connected(ben);
  await expect(notice(ana, "joined", `Ben-${tag}`)).toHaveCount(1);
});
