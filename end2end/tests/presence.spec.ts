import { expect, test } from "@playwright/test";
import { cluster } from "./cluster";
import { connected, loggedIn, notice, say, uniqueTag } from "./helpers";

test("who is online: two users on two instances see each other; a killed instance's user goes, a moved one stays", async ({
  browser,
}) => {
  const tag = uniqueTag();
  const room = `here-${tag}`;
  const alice = await loggedIn(browser, `${cluster.instanceURL(1)}/r/${room}`, `Alice-${tag}`);
  const bob = await loggedIn(browser, `${cluster.instanceURL(2)}/r/${room}`, `Bob-${tag}`);
  for (const page of [alice, bob]) {
    await expect(page.getByTestId("online")).toContainText(`Alice-${tag}`);
    await expect(page.getByTestId("online")).toContainText(`Bob-${tag}`);
    await expect(page.getByTestId("online-count")).toHaveText("2");
  }
  // (Notices show in a room someone has written in: a quiet room says who is here instead.)
  await say(alice, `hello ${tag}`);
  // Carol reads through the load balancer; she moves when her instance dies.
  const carol = await loggedIn(browser, `${cluster.baseURL}/r/${room}`, `Carol-${tag}`);
  await expect(alice.getByTestId("online-count")).toHaveText("3");
  const carolOn = Number((await carol.getByTestId("socket-instance").textContent())!.replace("app-", ""));

  // Kill bob's instance (app-2). Bob's page connected to it directly cannot move; carol's can
  // (if she was on app-2 at all).
  try {
    cluster.run("kill", "2");
    await expect(alice.getByTestId("online")).not.toContainText(`Bob-${tag}`, { timeout: 20_000 });
    await expect(alice.getByTestId("online")).toContainText(`Carol-${tag}`);
    await expect(alice.getByTestId("online-count")).toHaveText("2");
    await expect(notice(alice, "left", `Bob-${tag}`)).toHaveCount(1);
    await expect(notice(alice, "left", `Carol-${tag}`)).toHaveCount(0);
    if (carolOn === 2) await connected(carol);
  } finally {
    cluster.run("start", "2");
  }
});

test("a refresh is silent: no left or joined notice, and the user stays listed", async ({ browser }) => {
  const tag = uniqueTag();
  const room = `refresh-${tag}`;
  const alice = await loggedIn(browser, `${cluster.instanceURL(1)}/r/${room}`, `Alice-${tag}`);
  // (Notices show in a room someone has written in: a quiet room says who is here instead.)
  await say(alice, `hello ${tag}`);
  const bob = await loggedIn(browser, `${cluster.baseURL}/r/${room}`, `Bob-${tag}`);
  await expect(alice.getByTestId("online-count")).toHaveText("2");
  await expect(notice(alice, "joined", `Bob-${tag}`)).toHaveCount(1);
  await bob.reload();
  await connected(bob);
  await expect(bob.getByTestId("online-count")).toHaveText("2");
  // (A message between, so the leave below gets a row of its own.)
  await say(alice, `still here ${tag}`);
  // Bob leaves for good: then, and only then, the room reads it.
  await bob.close();
  await expect(notice(alice, "left", `Bob-${tag}`)).toHaveCount(1, { timeout: 15_000 });
  await expect(alice.getByTestId("online-count")).toHaveText("1");
  await expect(notice(alice, "joined", `Bob-${tag}`)).toHaveCount(1);
});
