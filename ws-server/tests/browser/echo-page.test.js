// Headless Chromium drives the echo page: load /, Connect, send a message,
// see the echo in the Communication Log, Close Socket, see the close logged.
//
// Usage: node echo-page.test.js http(s)://127.0.0.1:PORT/ [screenshot.png]
// Exits non-zero on any failure. Run by scripts/browser-test.sh.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const baseUrl = process.argv[2];
const screenshot = process.argv[3];
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
// Generous: a loaded 2-core CI machine; nothing here asserts speed.
const TIMEOUT_MS = 20000;

if (!baseUrl) {
  console.error("usage: node echo-page.test.js http://127.0.0.1:PORT/ [screenshot.png]");
  process.exit(2);
}

function check(condition, what) {
  if (!condition) throw new Error("check failed: " + what);
  console.log("ok - " + what);
}

async function logRows(page) {
  return page.$$eval("#commsLog tr", (rows) =>
    rows.map((r) => Array.from(r.cells).map((c) => c.textContent)));
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "ws-echo-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // The https run uses a throwaway self-signed certificate.
      ...(baseUrl.startsWith("https:") ? ["--ignore-certificate-errors"] : []),
    ],
    ignoreHTTPSErrors: baseUrl.startsWith("https:"),
    viewport: { width: 1000, height: 560 },
  });
  try {
    context.setDefaultTimeout(TIMEOUT_MS);
    const page = context.pages()[0] || (await context.newPage());
    const consoleErrors = [];
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });

    const response = await page.goto(baseUrl);
    check(response && response.status() === 200, "GET / answers 200");

    const state = page.locator("#stateLabel");
    await page.waitForFunction(() => document.getElementById("stateLabel").textContent === "Ready to connect…");
    check(true, "status starts as 'Ready to connect…'");
    const expectedUrl = baseUrl.replace(/^http/, "ws").replace(/\/$/, "") + "/ws";
    check((await page.inputValue("#connectionUrl")) === expectedUrl, "URL defaults to " + expectedUrl);
    check(await page.isDisabled("#sendButton"), "Send is disabled before connecting");
    check(await page.isDisabled("#closeButton"), "Close Socket is disabled before connecting");
    const urlBox = await page.locator("#connectionUrl").boundingBox();
    const messageBox = await page.locator("#sendMessage").boundingBox();
    check(Math.abs(urlBox.x - messageBox.x) < 1 && Math.abs(urlBox.width - messageBox.width) < 1,
      "the two inputs line up: " + JSON.stringify([urlBox, messageBox]));

    await page.click("#connectButton");
    await page.waitForFunction(() => document.getElementById("stateLabel").textContent === "Open");
    check(true, "status becomes 'Open'");
    check(await page.isDisabled("#connectButton"), "Connect is disabled while open");
    check(await page.isEnabled("#sendButton"), "Send is enabled while open");

    const message = "Hello from headless Chromium ✓";
    await page.fill("#sendMessage", message);
    await page.click("#sendButton");
    await page.waitForFunction((m) => Array.from(document.querySelectorAll("#commsLog tr"))
      .some((r) => r.cells[0].textContent === "Server" && r.cells[2].textContent === m), message);
    const rows = await logRows(page);
    check(rows.some((r) => r[0] === "Client" && r[2] === message), "the send is logged");
    check(rows.some((r) => r[0] === "Server" && r[2] === message), "the echo is logged");

    if (process.env.EXPECT_DEFLATE === "1") {
      // The server runs with --compression: Chromium offers
      // permessage-deflate by default and must get it, and a large text
      // must come back intact through both compressors.
      const result = await page.evaluate(async (url) => {
        const ws = new WebSocket(url);
        await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
        const text = "compress me, κόσμε ✓ ".repeat(6000);
        const echoed = await new Promise((resolve) => {
          ws.onmessage = (e) => resolve(e.data);
          ws.send(text);
        });
        ws.close(1000);
        return { extensions: ws.extensions, same: echoed === text, length: text.length };
      }, expectedUrl);
      check(result.extensions.startsWith("permessage-deflate"),
        "Chromium negotiated permessage-deflate: " + JSON.stringify(result.extensions));
      check(result.same, "a " + result.length + "-character text echoes intact through compression");
    }

    await page.click("#closeButton");
    await page.waitForFunction(() => document.getElementById("stateLabel").textContent.startsWith("Closed"));
    const closed = await state.textContent();
    check(closed.includes("Code: 1000"), "status shows the close code: " + closed);
    // The browser reports the server's close frame: it echoes the code
    // and the reason the page sent, as ASP.NET Core's sample does.
    check(closed.includes("Reason: Closing from client"), "status shows the echoed close reason: " + closed);
    const after = await logRows(page);
    check(after.some((r) => r[0] === "Client" && r[2].startsWith("Close requested (1000")),
      "the close request is logged");
    check(after.some((r) => r[0] === "Server" && r[2].startsWith("Closed. Code: 1000")),
      "the close is logged");
    check(await page.isEnabled("#connectButton"), "Connect is enabled again after the close");
    check(await page.isDisabled("#sendButton"), "Send is disabled after the close");
    check(consoleErrors.length === 0, "no script errors: " + JSON.stringify(consoleErrors));

    if (screenshot) {
      await page.screenshot({ path: screenshot });
      console.log("screenshot saved to " + screenshot);
    }

    // A failed attempt names the URL it tried (port 1: nothing listens).
    const badUrl = "ws://127.0.0.1:1/ws";
    await page.fill("#connectionUrl", badUrl);
    await page.click("#connectButton");
    await page.waitForFunction((u) => Array.from(document.querySelectorAll("#commsLog tr"))
      .some((r) => r.cells[2].textContent.includes(u)), badUrl);
    check(true, "a failed connection names " + badUrl);
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().then(
  () => { console.log("browser test passed"); },
  (e) => { console.error("browser test FAILED: " + (e && e.stack ? e.stack : e)); process.exit(1); },
);
