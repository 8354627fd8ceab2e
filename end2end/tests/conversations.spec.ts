// Rooms that belong to their people, in Chromium through the load balancer onto three instances
// sharing one Redis (or a Redis Cluster) and one PostgreSQL: a private room made, someone invited
// from another browser, a message of theirs deleted by the owner, a direct conversation opened
// from the member list, the invited person removed (their page says so), a public room moderated
// by keyboard (topic, roles, a ban lifted, the log), and the panels audited on a desktop and a
// phone.
import { expect, test, type Page } from "@playwright/test";
import { audit, connected, say, signedUp, texts, uniqueTag } from "./helpers";

const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

/** Makes a private room titled `title` from the rooms drawer; the page moves to it. */
async function newPrivateRoom(page: Page, title: string) {
  await page.getByText("New room", { exact: true }).click();
  await page.getByLabel("Title").fill(title);
  await expect(page.getByLabel("Private (invite only, not listed)")).toBeChecked();
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page).toHaveURL(/\/r\/~[a-z0-9]{20}$/);
  await expect(page.getByTestId("room-name")).toHaveText(title);
  await connected(page);
}

function member(page: Page, handle: string) {
  return page.getByTestId("members").locator(`li[data-member="${handle}"]`);
}

test("a private room: invite from another browser, chat, a direct message from the member list, remove", async ({
  browser,
}) => {
  const tag = uniqueTag();
  const [adaHandle, boHandle] = [`ada-${tag}`, `bo-${tag}`];
  const ada = await signedUp(browser, adaHandle);
  const bo = await signedUp(browser, boHandle);
  const title = `Plans ${tag}`;
  await newPrivateRoom(ada, title);
  const address = ada.url();
  await expect(member(ada, adaHandle)).toContainText("owner");
  await say(ada, `the secret ${tag}`);

  // Before the invitation, the address is what a room no one holds is to bo.
  await bo.goto(address);
  await expect(bo.getByTestId("error")).toContainText("There is no such room, or you are not a member of it.");
  await expect(texts(bo)).toHaveCount(0);

  await ada.getByLabel("Invite by handle").fill(`@${boHandle}`);
  await ada.getByRole("button", { name: "Invite" }).click();
  await expect(member(ada, boHandle)).toBeVisible();

  // Invited: the same address opens the room for bo, with its history, titled in his list.
  await bo.reload();
  await connected(bo);
  await expect(texts(bo).filter({ hasText: `the secret ${tag}` })).toHaveCount(1);
  await expect(bo.getByTestId("room-name")).toHaveText(title);
  await expect(bo.getByTestId("rooms").getByRole("link", { name: title })).toBeVisible();
  await say(bo, `count me in ${tag}`);
  await expect(texts(ada).filter({ hasText: `count me in ${tag}` })).toHaveCount(1);
  await audit(ada, "a private room with its members");

  // The owner deletes bo's message: it goes from both pages, and stays gone after a reload.
  // bo, a member, may delete his own messages only.
  await expect(bo.getByRole("button", { name: /^Delete this message/ })).toHaveCount(1);
  await expect(bo.getByRole("button", { name: `Delete this message by ${adaHandle}` })).toHaveCount(0);
  const counted = ada.locator(".msg", { hasText: `count me in ${tag}` });
  await counted.hover();
  await counted.getByRole("button", { name: /^Delete this message by/ }).click();
  // It asks first, with the answer in focus: Escape keeps the message, the answer deletes it.
  const sure = counted.getByRole("button", { name: /^Delete for everyone/ });
  await expect(sure).toBeFocused();
  await ada.keyboard.press("Escape");
  await expect(sure).toHaveCount(0);
  await counted.getByRole("button", { name: /^Delete this message by/ }).click();
  await counted.getByRole("button", { name: /^Delete for everyone/ }).press("Enter");
  await expect(texts(ada).filter({ hasText: `count me in ${tag}` })).toHaveCount(0);
  await expect(texts(bo).filter({ hasText: `count me in ${tag}` })).toHaveCount(0);
  // Where it was, both pages show a mark: the conversation keeps its shape.
  await expect(ada.locator(".msg.deleted")).toHaveCount(1);
  await expect(ada.locator(".msg.deleted").getByRole("button")).toHaveCount(0);
  await expect(bo.locator(".msg.deleted")).toContainText("Message deleted");
  await bo.reload();
  await connected(bo);
  await expect(texts(bo).filter({ hasText: `the secret ${tag}` })).toHaveCount(1);
  await expect(texts(bo).filter({ hasText: `count me in ${tag}` })).toHaveCount(0);
  await expect(bo.locator(".msg.deleted")).toHaveCount(1);

  // A direct conversation, opened from the member list; bo finds it in his list.
  await member(ada, boHandle).getByRole("button", { name: `Message ${boHandle}` }).click();
  const dmTitle = [adaHandle, boHandle].sort().join(", ");
  await expect(ada.getByTestId("room-name")).toHaveText(dmTitle);
  await connected(ada);
  await say(ada, `psst ${tag}`);
  await bo.reload();
  await connected(bo);
  await bo.getByTestId("rooms").getByRole("link", { name: dmTitle }).click();
  await expect(texts(bo).filter({ hasText: `psst ${tag}` })).toHaveCount(1);
  await bo.goBack();
  await expect(bo.getByTestId("room-name")).toHaveText(title);
  await connected(bo);

  // Removed by the owner: bo's page says so at once, and the room is shut to him.
  await ada.goto(address);
  await connected(ada);
  await member(ada, boHandle).getByRole("button", { name: `Remove ${boHandle}` }).click();
  await expect(member(ada, boHandle)).toHaveCount(0);
  await expect(bo.getByTestId("error")).toContainText(`You were removed from #${address.split("/r/")[1]}.`);
  await say(ada, `after bo left ${tag}`);
  await bo.reload();
  await expect(bo.getByTestId("error")).toContainText("There is no such room, or you are not a member of it.");
  await expect(texts(bo)).toHaveCount(0);
});

test("on a phone: a room made from the drawer, and its members in reach", async ({ browser }) => {
  const tag = uniqueTag();
  const page = await signedUp(browser, `cy-${tag}`, phone);
  await page.getByRole("button", { name: "Rooms" }).click();
  await expect(page.getByRole("navigation", { name: "Rooms" })).toBeVisible();
  await newPrivateRoom(page, `Phone ${tag}`);
  await page.getByRole("button", { name: "Rooms" }).click();
  await expect(member(page, `cy-${tag}`)).toBeVisible();
  await expect(page.getByLabel("Invite by handle")).toBeVisible();
  await audit(page, "the members panel in the drawer on a phone");
});

test("moderating a public room by keyboard: the topic, a moderator named, a ban and its lifting, the log", async ({
  browser,
}) => {
  const tag = uniqueTag();
  const [adaHandle, boHandle] = [`ada-${tag}`, `bo-${tag}`];
  const ada = await signedUp(browser, adaHandle);
  const bo = await signedUp(browser, boHandle);
  const name = `town-${tag}`;
  await ada.getByText("New room", { exact: true }).click();
  await ada.getByLabel("Title").fill(name);
  await ada.getByLabel("Private (invite only, not listed)").uncheck();
  await ada.getByRole("button", { name: "Create" }).click();
  await expect(ada).toHaveURL(new RegExp(`/r/${name}$`));
  await connected(ada);
  await bo.goto(`/r/${name}`);
  await connected(bo);
  await say(bo, `hello town ${tag}`);

  // The owner sets the topic from the keyboard; bo, a member, reads it and has no form.
  const topic = ada.getByLabel("Topic");
  await topic.fill(`Local news ${tag}`);
  await topic.press("Enter");
  await expect(ada.getByRole("status").filter({ hasText: "Topic set." })).toBeVisible();
  await bo.reload();
  await connected(bo);
  await expect(bo.getByTestId("topic")).toHaveText(`Local news ${tag}`);
  await expect(bo.getByLabel("Topic")).toHaveCount(0);

  // A public room's member list starts folded; the owner opens it and names bo a moderator.
  await ada.reload();
  await connected(ada);
  await ada.getByTestId("members").getByText("2 members").click();
  await member(ada, boHandle).getByRole("button", { name: `Make moderator: ${boHandle}` }).press("Enter");
  await expect(member(ada, boHandle)).toContainText("moderator");
  await bo.reload();
  await connected(bo);
  await expect(bo.getByLabel("Topic")).toBeVisible();
  await member(ada, boHandle).getByRole("button", { name: `Make member: ${boHandle}` }).press("Enter");
  await expect(member(ada, boHandle).locator(".role")).toHaveCount(0);

  // Banned: bo's page says so; the owner sees him among the banned and lifts it by keyboard.
  await member(ada, boHandle).getByRole("button", { name: `Ban ${boHandle}` }).press("Enter");
  await expect(bo.getByTestId("error")).toContainText(`You were banned from #${name}.`);
  const banned = ada.getByTestId("banned");
  await expect(banned).toContainText(boHandle);
  await audit(ada, "a public room's moderator tools");
  await banned.getByRole("button", { name: `Unban ${boHandle}` }).press("Enter");
  await expect(banned).toHaveCount(0);
  await bo.reload();
  await connected(bo);
  await expect(texts(bo).filter({ hasText: `hello town ${tag}` })).toHaveCount(1);

  // The log says who did what, newest first.
  await ada.getByText("Moderation log", { exact: true }).press("Enter");
  const log = ada.getByTestId("moderation-log").locator("li");
  await expect(log).toHaveCount(5);
  await expect(log.nth(0)).toContainText(`${adaHandle} (@${adaHandle}) lifted the ban on ${boHandle}`);
  await expect(log.nth(1)).toContainText(`banned ${boHandle}`);
  await expect(log.nth(2)).toContainText(`made ${boHandle} (@${boHandle}) member`);
  await expect(log.nth(3)).toContainText(`made ${boHandle} (@${boHandle}) moderator`);
  await expect(log.nth(4)).toContainText(`set the topic to “Local news ${tag}”`);
});
