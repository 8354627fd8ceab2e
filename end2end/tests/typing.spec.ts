import { expect, test } from "@playwright/test";
import { cluster } from "./cluster";
import { loggedIn, texts, uniqueTag } from "./helpers";

test("typing shows on another instance, ends with the message, and expires when the typist stops", async ({
  browser,
}) => {
  const tag = uniqueTag();
  const room = `typing-${tag}`;
  const alice = await loggedIn(browser, `${cluster.instanceURL(1)}/r/${room}`, `Alice-${tag}`);
  const bob = await loggedIn(browser, `${cluster.instanceURL(2)}/r/${room}`, `Bob-${tag}`);
  await expect(alice.getByTestId("online-count")).toHaveText("2");

  const composer = alice.getByTestId("composer");
  await composer.pressSequentially("hello the", { delay: 30 });
  await expect(bob.getByTestId("typing")).toHaveText(`Alice-${tag} is typing…`);
  await expect(alice.getByTestId("typing")).toHaveText("", { timeout: 1_000 });

  // The message ends the indicator at once.
  await composer.pressSequentially("re", { delay: 30 });
  await composer.press("Enter");
  await expect(texts(bob).filter({ hasText: "hello there" })).toHaveCount(1);
  await expect(bob.getByTestId("typing")).toHaveText("");

  // Typing and stopping: the indicator goes by itself a few seconds later.
  await composer.pressSequentially("hmm", { delay: 30 });
  await expect(bob.getByTestId("typing")).toHaveText(`Alice-${tag} is typing…`);
  await expect(bob.getByTestId("typing")).toHaveText("", { timeout: 6_000 });
});
