import { expect, test } from "@playwright/test";
import { cluster } from "./cluster";
import { connected, loggedIn, say, texts, uniqueTag } from "./helpers";

test("rooms by URL: join from the list, switch without a reload, back and forward follow", async ({
  browser,
}) => {
  const tag = uniqueTag();
  const room = `room-${tag}`;
  const alice = await loggedIn(browser, `${cluster.instanceURL(1)}/r/${room}`, `Alice-${tag}`);
  await expect(alice).toHaveTitle(`#${room} · Switchboard`);
  await expect(alice.getByTestId("room-name")).toHaveText(`#${room}`);
  const bob = await loggedIn(browser, cluster.instanceURL(2), `Bob-${tag}`);
  await expect(bob.getByTestId("room-name")).toHaveText("#lobby");

  // A marker that a reload would wipe: switching rooms must not reload the page.
  await bob.evaluate(() => ((window as any).__stillHere = true));
  const inLobby = `bob in the lobby (${tag})`;
  await say(bob, inLobby);

  await bob.getByTestId("join-room").fill(room);
  await bob.getByTestId("join-room").press("Enter");
  await expect(bob).toHaveURL(new RegExp(`/r/${room}$`));
  await expect(bob).toHaveTitle(`#${room} · Switchboard`);
  await expect(bob.getByTestId("room-name")).toHaveText(`#${room}`);
  await expect(bob.getByTestId("composer")).toHaveAttribute("placeholder", `Message #${room}`);

  // The two are in the room now, on different instances, and talk.
  const hello = `hello ${room} from alice`;
  await say(alice, hello);
  await expect(texts(bob).filter({ hasText: hello })).toHaveCount(1);
  await expect(texts(bob).filter({ hasText: inLobby })).toHaveCount(0);
  const reply = `bob answers in ${room}`;
  await say(bob, reply);
  await expect(texts(alice).filter({ hasText: reply })).toHaveCount(1);

  // Back to the lobby: its messages are still there; forward: the room's are.
  await bob.goBack();
  // (The login form's post left a bare "?" on the lobby's URL.)
  await expect(bob).toHaveURL(new RegExp(`^${cluster.instanceURL(2)}/\\??$`));
  await expect(bob.getByTestId("room-name")).toHaveText("#lobby");
  await expect(bob).toHaveTitle("#lobby · Switchboard");
  await expect(texts(bob).filter({ hasText: inLobby })).toHaveCount(1);
  await bob.goForward();
  await expect(bob.getByTestId("room-name")).toHaveText(`#${room}`);
  await expect(texts(bob).filter({ hasText: reply })).toHaveCount(1);
  expect(await bob.evaluate(() => (window as any).__stillHere)).toBe(true);

  // A message in a room bob is not looking at counts as unread there.
  await bob.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: "#lobby" }).click();
  await expect(bob.getByTestId("room-name")).toHaveText("#lobby");
  const unseen = `alice while bob is away (${tag})`;
  await say(alice, unseen);
  const roomEntry = bob.locator(`.rooms li[data-room="${room}"]`);
  await expect(roomEntry.getByTestId("unread")).toHaveText("1");
  await roomEntry.getByRole("link").click();
  await expect(texts(bob).filter({ hasText: unseen })).toHaveCount(1);
  await expect(roomEntry.getByTestId("unread")).toHaveCount(0);
});

test("a reconnect restores every open room, exactly", async ({ browser }) => {
  const tag = uniqueTag();
  const room = `resume-${tag}`;
  // Through the load balancer: the killed instance's user moves to another.
  const bob = await loggedIn(browser, cluster.baseURL, `Bob-${tag}`);
  await bob.getByTestId("join-room").fill(room);
  await bob.getByTestId("join-room").press("Enter");
  await expect(bob.getByTestId("room-name")).toHaveText(`#${room}`);
  await connected(bob);
  const victim = Number((await bob.getByTestId("socket-instance").textContent())!.replace("app-", ""));
  const survivor = (victim % cluster.size) + 1;
  const alice = await loggedIn(browser, `${cluster.instanceURL(survivor)}/r/${room}`, `Alice-${tag}`);
  const carol = await loggedIn(browser, cluster.instanceURL(survivor), `Carol-${tag}`);
  const before = `before the kill (${tag})`;
  await say(alice, before);
  await expect(texts(bob).filter({ hasText: before })).toHaveCount(1);

  const inRoom = (i: number) => `room-${tag}-${i}`;
  const inLobby = (i: number) => `lobby-${tag}-${i}`;
  try {
    cluster.run("kill", String(victim));
    // Said while bob is away, in the room he reads and in the lobby behind it.
    for (let i = 1; i <= 3; i++) {
      await say(alice, inRoom(i));
      await say(carol, inLobby(i));
    }
    await expect(bob.getByTestId("socket-instance")).not.toHaveText(`app-${victim}`, { timeout: 20_000 });
    await connected(bob);

    await expect(texts(bob).filter({ hasText: inRoom(3) })).toHaveCount(1);
    const here = (await texts(bob).allTextContents()).filter((t) => t.startsWith(`room-${tag}-`));
    expect(here).toEqual([1, 2, 3].map(inRoom));
    // The lobby was rejoined where it left off: its messages count as unread, each once.
    const lobbyEntry = bob.locator('.rooms li[data-room="lobby"]');
    await expect(lobbyEntry.getByTestId("unread")).toHaveText("3");
    await lobbyEntry.getByRole("link").click();
    await expect(bob.getByTestId("room-name")).toHaveText("#lobby");
    const there = (await texts(bob).allTextContents()).filter((t) => t.startsWith(`lobby-${tag}-`));
    expect(there).toEqual([1, 2, 3].map(inLobby));
  } finally {
    cluster.run("start", String(victim));
  }
});

test("a room name that cannot be gets a designed page", async ({ browser }) => {
  const page = await loggedIn(browser, cluster.baseURL, `Eve-${uniqueTag()}`);
  const response = await page.goto(`${cluster.baseURL}/r/No%20Such%20Room!`);
  expect(response!.status()).toBe(404);
  await expect(page.getByTestId("bad-room")).toContainText("There is no such room");
  await page.getByRole("link", { name: "Go to #lobby" }).click();
  await expect(page.getByTestId("room-name")).toHaveText("#lobby");
  await connected(page);
});

test("a draft stays with its room: switching rooms, a reload, and sending clears only that room's", async ({
  browser,
}) => {
  const tag = uniqueTag();
  const room = `drafts-${tag}`;
  const page = await loggedIn(browser, `${cluster.baseURL}/r/${room}`, `Dee-${tag}`);
  await connected(page);
  const composer = page.getByTestId("composer");
  await composer.fill(`half a thought in ${room}`);

  // To the lobby: its own box is empty; typing there leaves the room's draft alone.
  await page.getByTestId("rooms").getByRole("link", { name: "#lobby" }).click();
  await expect(page.getByTestId("room-name")).toHaveText("#lobby");
  await expect(composer).toHaveValue("");
  await composer.fill(`a lobby draft ${tag}`);
  await page.getByTestId("rooms").getByRole("link", { name: `#${room}` }).click();
  await expect(composer).toHaveValue(`half a thought in ${room}`);

  // A reload (a new socket, maybe another instance) keeps both.
  await page.reload();
  await connected(page);
  await expect(composer).toHaveValue(`half a thought in ${room}`);
  await composer.press("End");
  await composer.pressSequentially(", finished");
  await composer.press("Enter");
  const sent = page.locator(".msg", { hasText: `half a thought in ${room}, finished` });
  await expect(sent).toHaveCount(1);
  await expect(composer).toHaveValue("");
  // Said, and taken back (a guest's own message is theirs to delete): a mark stays.
  await sent.hover();
  await sent.getByRole("button", { name: `Delete this message by Dee-${tag}` }).click();
  await sent.getByRole("button", { name: /^Delete for everyone/ }).click();
  await expect(page.locator(".msg.deleted")).toContainText("Message deleted");
  await page.reload();
  await connected(page);
  await expect(composer).toHaveValue("");
  await page.getByTestId("rooms").getByRole("link", { name: "#lobby" }).click();
  await expect(composer).toHaveValue(`a lobby draft ${tag}`);

  // Signing out forgets them: nothing of the account stays in this browser.
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page.getByRole("button", { name: "Log out" })).toHaveCount(0);
  // Polled: the closed socket (4401) may reload the page under the evaluation, which then
  // throws (its context is gone) instead of answering; expect.poll does not retry a throw, so it
  // is read as "no answer yet" and asked again.
  await expect
    .poll(() =>
      page
        .evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("switchboard:drafts:")))
        .catch(() => "reloading"),
    )
    .toEqual([]);
});
