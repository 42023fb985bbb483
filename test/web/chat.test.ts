/**
 * Two browser pages chat through two different nodes with the web app and our SDK, and the
 * dashboard shows both connections. Screenshots are kept in test-artifacts/.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { artifactPath, launchBrowser, skipUnlessBrowser } from "../helpers/browser.js";
import { type TestServer, startTestServer } from "../helpers/server.js";

const skip = skipUnlessBrowser();
const KEY = "web-chat-test-key";
const bundle = new URL("../../web/dist/switchboard-client.js", import.meta.url).pathname;

async function login(page: Page, url: string, uid: string): Promise<void> {
  await page.goto(`${url}/web/chat.html`);
  await page.fill("#uid", uid);
  await page.fill("#apikey", KEY);
  await page.click("#login-form button");
  await page.locator("#status.ok").waitFor({ timeout: 10_000 });
}

describe("web chat in chromium", { skip }, () => {
  let sb: TestServer;
  let browser: Browser;
  before(async () => {
    // The page loads the SDK bundle that `npm run build` makes; make it if this checkout has none.
    if (!existsSync(bundle)) execFileSync(process.execPath, [new URL("../../scripts/build-web.mjs", import.meta.url).pathname]);
    sb = await startTestServer({ apiKey: KEY });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await sb?.stop();
  });

  test("two pages on two nodes chat 1:1 and in a group; the dashboard shows both", async () => {
    // Pick two users the router places on different nodes.
    const candidates = Array.from({ length: 20 }, (_, i) => `webuser${i}`);
    const groups = (await sb.post("/route/batch", candidates)).body as { uids: string[]; ws_addr: string }[];
    assert.equal(groups.length, 2, "users spread over both nodes");
    const [alice, bob] = [groups[0].uids[0], groups[1].uids[0]];

    const a = await browser.newPage();
    const b = await browser.newPage();
    await login(a, sb.apiUrl, alice);
    await login(b, sb.apiUrl, bob);
    assert.match((await a.textContent("#status")) ?? "", new RegExp(`${groups[0].ws_addr}`), "alice is on the first node");
    assert.match((await b.textContent("#status")) ?? "", new RegExp(`${groups[1].ws_addr}`), "bob is on the second node");

    await a.fill("#peer", bob);
    await a.click("#new-chat button");
    await a.fill("#text", "hello from the browser — 你好");
    await a.click("#send");
    await a.getByText("✓ stored #1").waitFor({ timeout: 10_000 });

    await b.locator(`#conv-list li[data-channel="1:${alice}"] .badge`).waitFor({ timeout: 10_000 });
    await b.click(`#conv-list li[data-channel="1:${alice}"]`);
    await b.getByText("hello from the browser — 你好").waitFor();
    await b.fill("#text", "hi back");
    await b.click("#send");
    await a.getByText("hi back").waitFor({ timeout: 10_000 });

    await b.fill("#group-id", "webteam");
    await b.fill("#group-members", alice);
    await b.click("#new-group button");
    await b.fill("#text", "group hello");
    await b.click("#send");
    await a.locator('#conv-list li[data-channel="2:webteam"]').waitFor({ timeout: 10_000 });
    await a.click('#conv-list li[data-channel="2:webteam"]');
    await a.getByText("group hello").waitFor();

    await a.screenshot({ path: artifactPath("chat-a.png") });
    await b.screenshot({ path: artifactPath("chat-b.png") });

    const dash = await browser.newPage({ viewport: { width: 1300, height: 800 } });
    await dash.goto(`${sb.apiUrl}/web/dashboard.html`);
    await dash.waitForFunction(
      () => [...document.querySelectorAll("#nodes tr")].map((tr) => tr.children[1]?.textContent).join(",") === "1,1",
      undefined,
      { timeout: 10_000 },
    );
    await dash.screenshot({ path: artifactPath("dashboard-with-chat.png"), fullPage: true });
  });
});
