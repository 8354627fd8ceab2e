import { expect, test } from "@playwright/test";
import { cluster } from "./cluster";
import { loggedIn, texts, uniqueTag } from "./helpers";

/** Refusals for sending too fast, summed over every instance's /metrics. */
async function rateLimited(): Promise<number> {
  let sum = 0;
  for (let i = 1; i <= cluster.size; i++) {
    const text = await (await fetch(`${cluster.instanceURL(i)}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith('switchboard_rate_limited_total{what="message"}'));
    sum += Number(line?.split(" ")[1] ?? 0);
  }
  return sum;
}

test("a burst beyond the rate limit waits its turn: every message arrives, once, in order", async ({ browser }) => {
  const tag = uniqueTag();
  const room = `burst-${tag}`;
  const alice = await loggedIn(browser, `${cluster.baseURL}/r/${room}`, `Alice-${tag}`);
  const bob = await loggedIn(browser, `${cluster.instanceURL(2)}/r/${room}`, `Bob-${tag}`);
  const before = await rateLimited();

  // Forty messages written in one go, faster than anyone types: the server takes 20 at once,
  // then 50 a second, and slows the rest down; the page holds them until their turn.
  await alice.evaluate((tag) => {
    const composer = document.querySelector<HTMLTextAreaElement>('[data-testid="composer"]')!;
    for (let i = 1; i <= 40; i++) {
      composer.value = `burst ${tag} ${i}`;
      composer.dispatchEvent(new Event("input", { bubbles: true }));
      composer.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    }
  }, tag);

  const expected = Array.from({ length: 40 }, (_, i) => `burst ${tag} ${i + 1}`);
  for (const page of [alice, bob]) {
    await expect(texts(page).filter({ hasText: `burst ${tag} ` })).toHaveText(expected);
  }
  await expect(alice.getByTestId("pending")).toHaveCount(0);
  await expect(alice.getByTestId("failed")).toHaveCount(0);
  // How many the server slowed depends on how fast it takes them in: a busy machine (or a
  // cluster's extra round trips) can take 40 in longer than the burst lasts, and then none are
  // slowed. What the user sees above is the guarantee; the count is a measurement. (The server's
  // refusal of a too-fast burst is tested deterministically in tests/api/limits.rs.)
  console.log(`[measure] rate limit: the server slowed ${(await rateLimited()) - before} of 40 sends`);
});
