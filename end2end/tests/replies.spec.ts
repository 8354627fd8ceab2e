// The conversation people expect, in Chromium through the load balancer onto instances sharing
// one Redis (or a Redis Cluster): a message edited (by the button and by Up in an empty box),
// a reply that quotes its original and takes the reader to it, reactions that two people add
// and take back, and a deleted original that its reply then shows as deleted; the other
// person's page follows each change live and after a reload, and the panels pass the audit.
import { expect, test, type Page } from "@playwright/test";
import { cluster } from "./cluster";
import { audit, connected, post, say, signedUp, texts, uniqueTag } from "./helpers";

/** The message whose text is `text`, on `page`. */
function message(page: Page, text: string) {
  return page.locator(".msg:not(.notice)", { has: page.locator(".text", { hasText: text }) });
}

test("edit, reply, react and delete: both pages agree, live and after a reload", async ({ browser }) => {
  const tag = uniqueTag();
  const [adaHandle, boHandle] = [`ada-${tag}`, `bo-${tag}`];
  const ada = await signedUp(browser, adaHandle);
  const bo = await signedUp(browser, boHandle);
  const room = `talk-${tag}`;
  for (const page of [ada, bo]) {
    await page.goto(`${cluster.baseURL}/r/${room}`);
    await connected(page);
  }

  // An edit from the message's own button: the text changes on both pages, marked "edited".
  await say(ada, `typo herre ${tag}`);
  const typo = message(ada, `typo herre ${tag}`);
  await typo.hover();
  await typo.getByRole("button", { name: "Edit this message" }).click();
  const composer = ada.getByTestId("composer");
  await expect(composer).toBeFocused();
  await expect(composer).toHaveValue(`typo herre ${tag}`);
  await expect(ada.getByTestId("composing")).toContainText("Editing your message");
  await composer.fill(`typo here ${tag}`);
  await composer.press("Enter");
  await expect(message(bo, `typo here ${tag}`)).toContainText("(edited)");
  await expect(texts(bo).filter({ hasText: `typo herre ${tag}` })).toHaveCount(0);
  await expect(ada.getByTestId("composing")).toHaveCount(0);

  // Up in an empty box edits the last message; Escape leaves it as it was. (A message still
  // on its way has no id to edit yet: wait until it is stored.)
  await say(ada, `second ${tag}`);
  await expect(ada.locator(".msg[data-id]", { hasText: `second ${tag}` })).toHaveCount(1);
  await composer.press("ArrowUp");
  await expect(composer).toHaveValue(`second ${tag}`);
  await composer.press("Escape");
  await expect(composer).toHaveValue("");
  await composer.press("ArrowUp");
  await composer.fill(`second, better ${tag}`);
  await composer.press("Enter");
  await expect(message(bo, `second, better ${tag}`)).toContainText("(edited)");

  // bo replies to the first message: the reply quotes it, on both pages.
  const original = message(bo, `typo here ${tag}`);
  await original.hover();
  await original.getByRole("button", { name: `Reply to this message by ${adaHandle}` }).click();
  await expect(bo.getByTestId("composing")).toContainText(`Replying to ${adaHandle}`);
  await say(bo, `answering you ${tag}`);
  const reply = message(ada, `answering you ${tag}`);
  await expect(reply.locator(".quote")).toContainText(`typo here ${tag}`);
  await expect(bo.getByTestId("composing")).toHaveCount(0);

  // Reactions: both add 👍 to the second message, ada takes hers back.
  const second = message(bo, `second, better ${tag}`);
  await second.hover();
  await second.getByRole("button", { name: `React to this message by ${adaHandle}` }).click();
  await second.getByRole("group", { name: "Reactions" }).getByRole("button", { name: "👍" }).click();
  const onAda = message(ada, `second, better ${tag}`);
  await expect(onAda.locator(".reaction")).toHaveText("👍 1");
  await onAda.hover();
  await onAda.getByRole("button", { name: `React to this message by ${adaHandle}` }).click();
  await onAda.getByRole("group", { name: "Reactions" }).getByRole("button", { name: "👍" }).click();
  await expect(second.locator(".reaction")).toHaveText("👍 2");
  await expect(onAda.getByRole("button", { name: /^👍 2: / })).toHaveAttribute("aria-pressed", "true");
  await onAda.getByRole("button", { name: /^👍 2: / }).click();
  await expect(second.locator(".reaction")).toHaveText("👍 1");
  await expect(second.locator(".reaction")).toHaveAttribute("aria-pressed", "true");
  await audit(bo, "a conversation with a reply, an edit and reactions");

  // ada deletes the original: bo's reply now shows it as deleted, and stays so after a reload.
  const first = message(ada, `typo here ${tag}`);
  await first.hover();
  await first.getByRole("button", { name: /^Delete this message by/ }).click();
  await first.getByRole("button", { name: /^Delete for everyone/ }).click();
  await expect(message(bo, `answering you ${tag}`).locator(".quote")).toContainText("Message deleted");
  await bo.reload();
  await connected(bo);
  await expect(message(bo, `answering you ${tag}`).locator(".quote")).toContainText("Message deleted");
  await expect(message(bo, `second, better ${tag}`)).toContainText("(edited)");
  await expect(message(bo, `second, better ${tag}`).locator(".reaction")).toHaveText("👍 1");
  await Promise.all([ada.context().close(), bo.context().close()]);
});

test("a reply's quote takes the reader to the original, loading older history", async ({ browser }) => {
  const tag = uniqueTag();
  const ada = await signedUp(browser, `ada-${tag}`);
  const room = `long-${tag}`;
  await ada.goto(`${cluster.baseURL}/r/${room}`);
  await connected(ada);
  await say(ada, `the original ${tag}`);
  const original = message(ada, `the original ${tag}`);
  await original.hover();
  await original.getByRole("button", { name: /^Reply to this message by/ }).click();
  // More than a page between the two, so that a reload shows the reply but not the original.
  await post(ada, room, 60, `filler ${tag}`);
  await say(ada, `the reply ${tag}`);
  await ada.reload();
  await connected(ada);
  const reply = message(ada, `the reply ${tag}`);
  await expect(reply).toHaveCount(1);
  await expect(texts(ada).filter({ hasText: `the original ${tag}` })).toHaveCount(0);
  await reply.locator(".quote").click();
  await expect(original).toBeInViewport();
  await expect(original).toBeFocused();
  await ada.context().close();
});
