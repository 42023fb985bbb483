/**
 * The dashboard in a real browser: it goes live over server-sent events, lists the nodes, shows
 * connections as users connect, and the route form calls /route/batch. A screenshot is kept in
 * test-artifacts/.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { artifactPath, launchBrowser, skipUnlessBrowser } from "../helpers/browser.js";
import { type SdkUser, connectSdkUser } from "../helpers/sdk-user.js";
import { type TestServer, startTestServer } from "../helpers/server.js";
import { SdkLoader } from "../helpers/wk-sdk.js";

const skip = skipUnlessBrowser();

describe("dashboard in chromium", { skip }, () => {
  let sb: TestServer;
  let browser: Browser;
  const loader = new SdkLoader();
  const users: SdkUser[] = [];
  const quietLog = console.log;
  before(async () => {
    console.log = () => {};
    sb = await startTestServer({ tokenAuth: false });
    browser = await launchBrowser();
  });
  after(async () => {
    for (const u of users) u.close();
    await browser?.close();
    await sb?.stop();
    console.log = quietLog;
    await loader.dispose();
  });

  test("shows both nodes and their connections live, and answers the route form", async () => {
    const page = await browser.newPage({ viewport: { width: 1300, height: 800 } });
    await page.goto(`${sb.apiUrl}/web/dashboard.html`);
    await page.getByText("live", { exact: true }).waitFor({ timeout: 10_000 });
    const rows = page.locator("#nodes tr");
    await rows.nth(1).waitFor();
    assert.deepEqual(await page.locator("#nodes tr td:first-child").allTextContents(), ["node-1", "node-2"]);

    // One user on each node; nodes announce their load every 2 s and the page follows.
    for (const [i, uid] of ["ann", "ben"].entries()) {
      const user = await connectSdkUser(loader, { uid, token: "x", addr: () => sb.nodes[i].info().external.wsAddr });
      users.push(user);
      await user.waitConnected();
    }
    await page.waitForFunction(
      () => [...document.querySelectorAll("#nodes tr")].every((tr) => tr.children[1]?.textContent === "1"),
      undefined,
      { timeout: 10_000 },
    );

    await page.fill("#route-uids", "ann ben carol");
    await page.click("#route-form button");
    await page.locator("#route-groups tr").first().waitFor();
    const groups = await page.locator("#route-groups tr td:last-child").allTextContents();
    assert.deepEqual(groups.flatMap((g) => g.split(", ")).sort(), ["ann", "ben", "carol"]);
    await page.screenshot({ path: artifactPath("dashboard.png"), fullPage: true });
  });
});
