// Browser scenarios for the widget, the agent console and the admin console, in Debian's
// Chromium driven by playwright-core. tests/tests/browser.rs starts a real Frontdesk server and
// runs this with FRONTDESK_URL, AGENT_KEY, ADMIN_KEY and ARTIFACTS (where screenshots go).
// Prints one line per scenario and exits with 1 when any failed.
import assert from "node:assert/strict";
import http from "node:http";
import { mkdirSync, readFileSync } from "node:fs";
import { createHmac } from "node:crypto";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";

const SERVER = process.env.FRONTDESK_URL;
const AGENT_KEY = process.env.AGENT_KEY;
const ADMIN_KEY = process.env.ADMIN_KEY;
const ARTIFACTS = process.env.ARTIFACTS || "artifacts";
const WAIT = 20_000;
mkdirSync(ARTIFACTS, { recursive: true });

// A customer's pages, on another origin than Frontdesk. The first restyles div, button and *
// as carelessly as real sites do.
const HOSTILE_CSS = `
  * { color: lime !important; font-family: "Comic Sans MS", serif !important; letter-spacing: 3px !important; }
  div { background: #300 !important; padding: 40px !important; border: 5px dashed red !important; }
  button { font-size: 40px !important; width: 300px !important; transform: rotate(8deg) !important; }
  body > * { position: relative !important; transform: translateX(30px) !important; }
`;
function page(lang, css, attributes) {
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Shop</title><style>${css}</style></head>
<body><h1>A customer's shop</h1><div><p>Products and courses.</p><button>Buy</button></div>
<script src="${SERVER}/widget.js" ${attributes} async></script></body></html>`;
}
const PAGES = {
  "/hostile.html": page("en", HOSTILE_CSS, 'data-title="Brightwave help" data-color="#0a7d4f"'),
  "/left.html": page("en", "", 'data-position="left" data-greeting="Welcome to **Brightwave**!"'),
  "/zh.html": page("zh-CN", "", ""),
  "/shop.html": page("en", "body { font: 16px Georgia, serif; margin: 0 16px; }", ""),
};
// Lead webhook deliveries the site received: {signature, body}.
const hooks = [];
const site = http.createServer((req, res) => {
  if (req.method === "POST" && req.url === "/hook") {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      hooks.push({ signature: req.headers["x-frontdesk-signature"], body: Buffer.concat(chunks) });
      res.writeHead(200);
      res.end();
    });
    return;
  }
  const body = PAGES[new URL(req.url, "http://x").pathname];
  res.writeHead(body ? 200 : 404, { "content-type": "text/html; charset=utf-8" });
  res.end(body || "not found");
});
await new Promise((resolve) => site.listen(Number(process.env.SITE_PORT) || 0, "127.0.0.1", resolve));
const HOST = `http://127.0.0.1:${site.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});

// Every frame the page's widget receives, parsed.
function recordFrames(page) {
  const frames = [];
  page.on("websocket", (ws) => {
    ws.on("framereceived", (event) => {
      try { frames.push(JSON.parse(event.payload)); } catch { /* not JSON */ }
    });
  });
  return frames;
}
async function ask(page, text) {
  await page.locator("textarea").fill(text);
  await page.locator("textarea").press("Enter");
}
const lastAnswer = (page) => page.locator(".m.assistant:has(.fb)").last();

const results = [];
async function scenario(name, run) {
  const started = Date.now();
  try {
    await run();
    results.push(true);
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    results.push(false);
    console.log(`not ok - ${name}\n${String(error.stack || error).replace(/^/gm, "    ")}`);
  }
}

const state = {};

await scenario("the widget's JavaScript and CSS stay under 20 KB gzipped", async () => {
  const source = Buffer.from(await (await fetch(`${SERVER}/widget.js`)).arrayBuffer());
  const gzipped = gzipSync(source, { level: 9 }).length;
  console.log(`    widget.js (script and styles): ${source.length} bytes, ${gzipped} bytes gzipped (limit 20480)`);
  assert.ok(gzipped <= 20_480);
});

const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const visitor = await desktop.newPage();
const visitorFrames = recordFrames(visitor);

await scenario("a visitor asks and sees a streamed answer with its source", async () => {
  await visitor.goto(`${HOST}/hostile.html`);
  await visitor.locator(".launch").click();
  await assert.doesNotReject(visitor.locator("textarea").waitFor({ timeout: WAIT }));
  await ask(visitor, "How much does shipping cost?");
  const answer = lastAnswer(visitor);
  await answer.waitFor({ timeout: WAIT });
  assert.match(await answer.locator(".body").innerText(), /4\.90 euros/);
  assert.equal(await answer.locator(".src").innerText(), "Sources: How much does shipping cost?");
  const tokens = visitorFrames.filter((f) => f.type === "token").length;
  console.log(`    the answer arrived in ${tokens} token frames`);
  assert.ok(tokens > 1, "streamed in pieces");
  state.conversation = visitorFrames.find((f) => f.type === "welcome").conversation_id;
  // Thumbs up is sent and shown as pressed.
  await answer.getByRole("button", { name: "Helpful", exact: true }).click();
  assert.equal(await answer.getByRole("button", { name: "Helpful", exact: true }).getAttribute("aria-pressed"), "true");
  await visitor.screenshot({ path: `${ARTIFACTS}/widget-desktop.png` });
});

await scenario("the widget on a page that restyles div, button and * still looks right", async () => {
  const look = await visitor.locator(".launch").evaluate((launch) => {
    const root = launch.getRootNode();
    const box = launch.getBoundingClientRect();
    const panel = root.querySelector(".panel").getBoundingClientRect();
    const body = getComputedStyle(root.querySelector(".m.assistant .body"));
    const header = getComputedStyle(root.querySelector("header"));
    return {
      launch: [Math.round(box.width), Math.round(box.height), Math.round(innerWidth - box.right), Math.round(innerHeight - box.bottom)],
      panel: [Math.round(panel.width), Math.round(innerWidth - panel.right)],
      color: body.color, font: body.fontFamily, spacing: body.letterSpacing,
      header: header.backgroundColor, padding: header.paddingTop,
      title: root.querySelector("header b").textContent,
    };
  });
  assert.deepEqual(look.launch, [56, 56, 20, 20], "launcher size and place");
  assert.deepEqual(look.panel, [370, 20], "panel width and place");
  assert.equal(look.color, "rgb(27, 27, 31)", "text colour is the widget's, not the page's lime");
  assert.doesNotMatch(look.font, /Comic/);
  assert.equal(look.spacing, "normal");
  assert.equal(look.header, "rgb(10, 125, 79)", "data-color");
  assert.equal(look.padding, "12px");
  assert.equal(look.title, "Brightwave help", "data-title");
});

await scenario("loading the script twice adds one widget", async () => {
  await visitor.addScriptTag({ url: `${SERVER}/widget.js` });
  await visitor.waitForTimeout(300);
  assert.equal(await visitor.locator("frontdesk-widget").count(), 1);
});

await scenario("a reload resumes the conversation", async () => {
  await visitor.reload();
  const answer = lastAnswer(visitor);
  await answer.waitFor({ timeout: WAIT });
  assert.equal(await visitor.locator(".m.visitor").first().innerText(), "How much does shipping cost?");
  assert.match(await answer.innerText(), /4\.90 euros/);
  assert.equal(await answer.getByRole("button", { name: "Helpful", exact: true }).getAttribute("aria-pressed"), "true");
  assert.ok(await visitor.locator(".panel.open").isVisible(), "the panel stays open");
  const welcomes = visitorFrames.filter((f) => f.type === "welcome");
  assert.equal(welcomes.at(-1).conversation_id, state.conversation, "the same conversation");
});

await scenario("the visitor asks for a person; an agent in the console takes over and both see each other", async () => {
  await visitor.getByRole("button", { name: "Talk to a person" }).click();
  await visitor.locator(".status", { hasText: "Waiting for a person to join…" }).waitFor({ timeout: WAIT });

  const staff = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const agent = await staff.newPage();
  await agent.goto(`${SERVER}/console`);
  await agent.locator("#key").fill(AGENT_KEY);
  await agent.getByRole("button", { name: "Sign in" }).click();
  const queued = agent.locator(`#queue li.conv[data-id="${state.conversation}"]`);
  await queued.waitFor({ timeout: WAIT });
  await queued.click();
  await agent.locator("#log .msg.visitor").first().waitFor({ timeout: WAIT });
  await agent.getByRole("button", { name: "Take over" }).click();
  await visitor.locator(".status", { hasText: `A support agent has joined: ${process.env.AGENT_NAME}` }).waitFor({ timeout: WAIT });
  await agent.locator("#text").fill("Hello, this is **Ana**. How can I help?");
  await agent.locator("#text").press("Enter");
  const fromAgent = visitor.locator(".m.agent").last();
  await fromAgent.waitFor({ timeout: WAIT });
  assert.equal(await fromAgent.locator(".body").innerText(), "Hello, this is Ana. How can I help?");
  assert.equal(await fromAgent.locator("strong").innerText(), "Ana");
  await ask(visitor, "My parcel is late, order 1234");
  await agent.locator("#log .msg.visitor", { hasText: "My parcel is late, order 1234" }).waitFor({ timeout: WAIT });
  // The assistant stays silent while the person handles it.
  await visitor.waitForTimeout(1000);
  assert.equal(await visitor.locator(".m.assistant").count(), 2, "the greeting and the one answer");
  // A phone number is masked in the transcript; the agent holding the chat may see it whole.
  await ask(visitor, "or call me on 020 7946 0958");
  await agent.locator("#log .msg.visitor", { hasText: "or call me on ****0958" }).waitFor({ timeout: WAIT });
  await agent.getByRole("button", { name: "Contact details" }).click();
  await agent.locator("#details dd", { hasText: "020 7946 0958" }).waitFor({ timeout: WAIT });
  await agent.screenshot({ path: `${ARTIFACTS}/console.png` });

  // Search past transcripts.
  await agent.locator("#search").fill("parcel");
  await agent.locator(`#list li.conv[data-id="${state.conversation}"]`).waitFor({ timeout: WAIT });
  // Hand back: the visitor sees the assistant is back.
  await agent.getByRole("button", { name: "Hand back to assistant" }).click();
  await visitor.locator(".person").waitFor({ state: "visible", timeout: WAIT });
  assert.ok(await agent.locator("#details").isHidden(), "no longer theirs: the details are gone");
  // Export: the download holds the transcript.
  const [download] = await Promise.all([agent.waitForEvent("download"), agent.getByRole("button", { name: "Export" }).click()]);
  const exported = JSON.parse(await streamText(await download.createReadStream()));
  assert.ok(JSON.stringify(exported).includes("My parcel is late, order 1234"));
  // Close: the visitor is told.
  await agent.getByRole("button", { name: "Close", exact: true }).click();
  await visitor.locator(".status", { hasText: "This conversation has ended" }).waitFor({ timeout: WAIT });
  state.staff = staff;
});

async function streamText(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

const PAYLOAD_KB = `<img src=x onerror="window.__pwned='kb'"><script>window.__pwned='kb-script'</script>`;
const GIFTS_CSV = `question,answer
Do you offer gift wrapping?,"Yes! Gift wrapping costs **3 euros** per order:
- recycled paper
- a handwritten card

See [our gift page](https://shop.example/gifts) and use the code \`WRAP3\`. ${PAYLOAD_KB.replaceAll('"', '""')}"
`;

await scenario("an admin drops a document in the admin console; the visitor's next question is answered from it", async () => {
  const staff = state.staff || (await browser.newContext({ viewport: { width: 1280, height: 900 } }));
  const admin = await staff.newPage();
  await admin.goto(`${SERVER}/admin`);
  await admin.locator("#key").fill(ADMIN_KEY);
  await admin.getByRole("button", { name: "Sign in" }).click();
  await admin.locator("#docs tr").first().waitFor({ timeout: WAIT });
  // A real drop event carrying the file, as the browser makes when a file is dragged in.
  const transfer = await admin.evaluateHandle((csv) => {
    const data = new DataTransfer();
    data.items.add(new File([csv], "gifts.csv", { type: "text/csv" }));
    return data;
  }, GIFTS_CSV);
  await admin.locator("#drop").dispatchEvent("drop", { dataTransfer: transfer });
  await admin.locator("#docs tr", { hasText: "gifts.csv" }).waitFor({ timeout: WAIT });
  assert.match(await admin.locator("#notice").innerText(), /Stored gifts\.csv: 1 entries/);

  // Try a question: passages with scores, the payload inert.
  await admin.locator("#question").fill("gift wrapping");
  await admin.locator("#question").press("Enter");
  const passage = admin.locator(".passage").first();
  await passage.waitFor({ timeout: WAIT });
  assert.equal(await passage.locator("strong").innerText(), "Do you offer gift wrapping?");
  assert.match(await passage.locator(".meta").innerText(), /score \d+\.\d\d · confidence \d\.\d\d/);
  assert.ok((await passage.locator(".body").innerText()).includes("<img src=x"));
  assert.equal(await admin.locator(".passage img, .passage script").count(), 0);
  await admin.locator("#chart .bar").first().waitFor({ timeout: WAIT });
  await admin.screenshot({ path: `${ARTIFACTS}/admin.png`, fullPage: true });
  state.admin = admin;

  // A new visitor asks, with a question that carries markup itself.
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${HOST}/hostile.html`);
  await page.locator(".launch").click();
  const question = `<img src=x onerror="window.__pwned='question'"><script>window.__pwned='q-script'</script> gift wrapping?`;
  await ask(page, question);
  const answer = lastAnswer(page);
  await answer.waitFor({ timeout: WAIT });
  state.markupPage = page;
  state.answerText = await answer.locator(".body").innerText();
});

await scenario("Markdown renders as elements while markup in a document or a question stays inert text", async () => {
  const page = state.markupPage;
  assert.ok(page, "the previous scenario opened the page");
  const answer = lastAnswer(page);
  assert.equal(await answer.locator("strong").innerText(), "3 euros");
  assert.deepEqual(await answer.locator("li").allInnerTexts(), ["recycled paper", "a handwritten card"]);
  assert.equal(await answer.locator("a", { hasText: "our gift page" }).getAttribute("href"), "https://shop.example/gifts");
  assert.equal(await answer.locator("code").innerText(), "WRAP3");
  assert.ok(state.answerText.includes(`<img src=x onerror="window.__pwned='kb'">`), state.answerText);
  assert.ok((await page.locator(".m.visitor").last().innerText()).startsWith("<img src=x onerror="));
  const injected = await page.locator(".launch").evaluate((launch) => {
    const root = launch.getRootNode();
    return { img: root.querySelectorAll("img").length, script: root.querySelectorAll(".log script").length, pwned: window.__pwned ?? null };
  });
  assert.deepEqual(injected, { img: 0, script: 0, pwned: null });
});

await scenario("an admin replaces and deletes a document in the admin console", async () => {
  const admin = state.admin;
  assert.ok(admin, "the admin console is open");
  const [chooser] = await Promise.all([
    admin.waitForEvent("filechooser"),
    admin.locator("#docs tr", { hasText: "gifts.csv" }).getByRole("button", { name: "Replace" }).click(),
  ]);
  await chooser.setFiles({
    name: "anything.csv", mimeType: "text/csv",
    buffer: Buffer.from("question,answer\nDo you offer gift wrapping?,No longer: we stopped in 2026.\n"),
  });
  await admin.locator("#notice", { hasText: "Replaced gifts.csv: 1 entries" }).waitFor({ timeout: WAIT });
  const search = await (await fetch(`${SERVER}/api/v1/search?q=gift%20wrapping&k=1`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json();
  assert.match(search.passages[0].body, /No longer/);
  admin.once("dialog", (dialog) => dialog.accept());
  await admin.locator("#docs tr", { hasText: "gifts.csv" }).getByRole("button", { name: "Delete" }).click();
  await admin.locator("#notice", { hasText: "Deleted gifts.csv" }).waitFor({ timeout: WAIT });
  // The notice comes with the server's answer; the list is fetched again after it.
  await admin.locator("#docs tr", { hasText: "gifts.csv" }).waitFor({ state: "detached", timeout: WAIT });
  assert.equal(await admin.locator("#docs tr", { hasText: "gifts.csv" }).count(), 0);
});

await scenario("a dropped connection is reconnected with backoff and the conversation resumed", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  // Every socket the widget opens goes through this relay, which the test can cut.
  const sockets = [];
  await page.routeWebSocket(/\/v1\/ws$/, (ws) => {
    const server = ws.connectToServer();
    sockets.push({ ws, server, at: Date.now() });
  });
  await page.goto(`${HOST}/shop.html`);
  await page.locator(".launch").click();
  await ask(page, "Do you have parking at the shop?");
  await lastAnswer(page).waitFor({ timeout: WAIT });
  const cut = Date.now();
  sockets[0].server.close();
  sockets[0].ws.close({ code: 4000, reason: "network lost" });
  await page.locator(".status", { hasText: "Reconnecting…" }).waitFor({ timeout: WAIT });
  const deadline = Date.now() + WAIT;
  while (sockets.length < 2 && Date.now() < deadline) await page.waitForTimeout(50);
  assert.equal(sockets.length, 2, "the widget opened a new socket");
  console.log(`    reconnected ${sockets[1].at - cut} ms after the connection dropped`);
  await page.locator(".status").waitFor({ state: "hidden", timeout: WAIT });
  assert.equal(await page.locator(".m.visitor").count(), 1, "the history is shown once");
  await ask(page, "What are your opening hours?");
  await page.locator(".m.assistant:has(.fb)", { hasText: "Monday to Saturday" }).waitFor({ timeout: WAIT });
});

await scenario("on a phone the panel fills the screen", async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const page = await phone.newPage();
  await page.goto(`${HOST}/shop.html`);
  await page.locator(".launch").tap();
  await ask(page, "What are your opening hours?");
  await lastAnswer(page).waitFor({ timeout: WAIT });
  const box = await page.locator(".panel").boundingBox();
  assert.deepEqual([box.x, box.y, box.width, box.height], [0, 0, 390, 844]);
  await page.screenshot({ path: `${ARTIFACTS}/widget-phone.png` });
});

await scenario("data attributes and Frontdesk.init set position, greeting, title and language", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const left = await context.newPage();
  await left.goto(`${HOST}/left.html`);
  await left.locator(".launch").click();
  const greeting = left.locator(".m.assistant").first();
  await greeting.waitFor({ timeout: WAIT });
  assert.equal(await greeting.innerText(), "Welcome to Brightwave!");
  assert.equal(await greeting.locator("strong").innerText(), "Brightwave");
  const box = await left.locator(".launch").boundingBox();
  assert.equal(box.x, 20, "data-position=left");
  await left.evaluate(() => window.Frontdesk.init({ title: "Hilfe", locale: "zh", color: "rgb(200, 30, 30)", position: "right" }));
  assert.equal(await left.locator("header b").innerText(), "Hilfe");
  assert.equal(await left.locator(".person").innerText(), "转人工");
  assert.equal(await left.locator("header").evaluate((h) => getComputedStyle(h).backgroundColor), "rgb(200, 30, 30)");
  assert.equal((await left.locator(".launch").boundingBox()).x, 1280 - 20 - 56);

  const zh = await context.newPage();
  await zh.goto(`${HOST}/zh.html`);
  await zh.locator(".launch").click();
  assert.equal(await zh.locator("textarea").getAttribute("placeholder"), "输入您的问题…");
  assert.equal(await zh.locator("header b").innerText(), "在线客服");
});

await scenario("the widget works from the keyboard and announces new messages", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${HOST}/left.html`);
  await page.locator(".launch").waitFor();
  // Tab from the page's own button reaches the launcher.
  await page.locator("button", { hasText: "Buy" }).focus();
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await page.locator(".panel.open").waitFor({ timeout: WAIT });
  assert.equal(await page.evaluate(() => document.activeElement.shadowRoot?.activeElement?.tagName), "TEXTAREA");
  await page.keyboard.type("Do you have parking at the shop?");
  await page.keyboard.press("Enter");
  await lastAnswer(page).waitFor({ timeout: WAIT });
  assert.match(await page.locator("[aria-live=polite]").innerText(), /^Assistant: .*20 free parking spaces behind the shop/s);
  await page.keyboard.press("Escape");
  assert.equal(await page.locator(".panel.open").count(), 0);
  assert.equal(await page.evaluate(() => document.activeElement.shadowRoot?.activeElement?.className), "launch");
});

await scenario("with web storage blocked the widget loads without an error and answers", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // As a browser that blocks storage for the page does: even reading the property throws.
  await context.addInitScript(() => {
    for (const area of ["localStorage", "sessionStorage"]) {
      Object.defineProperty(window, area, {
        get() { throw new DOMException("The operation is insecure.", "SecurityError"); },
      });
    }
  });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(`${HOST}/shop.html`);
  await page.locator(".launch").click();
  await page.locator("textarea").waitFor({ timeout: WAIT });
  await ask(page, "How much does shipping cost?");
  await lastAnswer(page).waitFor({ timeout: WAIT });
  assert.match(await lastAnswer(page).locator(".body").innerText(), /4\.90 euros/);
  assert.deepEqual(errors, [], "no script error on the page");
  await context.close();
});

await scenario("a visitor gets recommendation cards, follows one (counted), and leaves a lead with consent", async () => {
  const demo = readFileSync(new URL("../../knowledge-base/brightwave.catalog.csv", import.meta.url));
  const upload = await fetch(`${SERVER}/api/v1/catalog?name=brightwave.catalog.csv`, {
    method: "POST", headers: { authorization: `Bearer ${ADMIN_KEY}` }, body: demo,
  });
  assert.equal(upload.status, 200, await upload.text());
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // The shop's product pages, where the cards lead.
  await context.route("https://shop.brightwave.example/**", (route) => route.fulfill({ contentType: "text/html", body: "<h1>product</h1>" }));
  const page = await context.newPage();
  await page.goto(`${HOST}/shop.html`);
  await page.evaluate(() => window.Frontdesk.track("viewed", { id: "nova-13" }));
  await page.locator(".launch").click();
  await page.locator("textarea").waitFor({ timeout: WAIT });
  await ask(page, "A laptop under 800 euros for video editing?");
  const cards = page.getByRole("list", { name: "Recommended for you" }).last();
  await cards.waitFor({ timeout: WAIT });
  const first = cards.getByRole("listitem").first();
  assert.match(await first.innerText(), /Nova 15 laptop[\s\S]*€749/);
  const count = await cards.getByRole("listitem").count();
  assert.ok(count >= 1 && count <= 3, `${count} cards`);
  await page.screenshot({ path: `${ARTIFACTS}/widget-cards.png` });
  const [product] = await Promise.all([
    context.waitForEvent("page"),
    first.getByRole("link", { name: "View: Nova 15 laptop" }).click(),
  ]);
  // Through /r/nova-15 (counted) to the item's own page.
  await product.waitForURL("https://shop.brightwave.example/p/nova-15", { timeout: WAIT });
  const summary = await (await fetch(`${SERVER}/api/v1/analytics/summary?days=1`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json();
  assert.deepEqual(summary.card_clicks.map((c) => [c.id, c.clicks]), [["nova-15", 1]], "the click is counted");

  await ask(page, "Can I get a quote for 20 laptops for my company?");
  const form = page.locator("form.lead").last();
  await form.waitFor({ timeout: WAIT });
  assert.match(await form.innerText(), /may contact me/);
  assert.equal(await form.getByRole("link", { name: "Privacy notice" }).getAttribute("href"), `${SERVER}/privacy`);
  await form.getByRole("textbox", { name: "E-mail or phone" }).fill("ana@example");
  await form.getByRole("button", { name: "Send" }).click();
  assert.match(await form.getByRole("alert").innerText(), /E-mail or phone/, "a broken address is refused in the form");
  await form.getByRole("textbox", { name: "E-mail or phone" }).fill("ana@example.com");
  await form.getByRole("checkbox").check();
  await form.getByRole("button", { name: "Send" }).click();
  await page.locator("div.lead", { hasText: "Thank you: our team will contact you." }).waitFor({ timeout: WAIT });
  const deadline = Date.now() + WAIT;
  while (!hooks.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(hooks.length, 1, "the lead reached the webhook");
  const expected = "sha256=" + createHmac("sha256", process.env.LEAD_SECRET).update(hooks[0].body).digest("hex");
  assert.equal(hooks[0].signature, expected, "signed with the shared secret");
  assert.equal(JSON.parse(hooks[0].body).lead.email, "ana@example.com");
  await context.close();
});

await scenario("an admin sees what visitors ask in Topics and approves a suggested entry drafted from an agent's reply", async () => {
  const auth = (key) => ({ authorization: `Bearer ${key}`, "content-type": "application/json" });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${HOST}/shop.html`);
  await page.locator(".launch").click();
  await page.locator("textarea").waitFor({ timeout: WAIT });
  await ask(page, "Do you offer gift wrapping for presents?");
  await page.locator(".m.assistant", { hasText: "couldn't find an answer" }).last().waitFor({ timeout: WAIT });
  // An agent answers it in the console's API.
  const list = await (await fetch(`${SERVER}/api/v1/conversations?q=${encodeURIComponent("gift wrapping for presents")}`, { headers: auth(AGENT_KEY) })).json();
  const id = list.conversations[0].id;
  const reply = "Yes: choose gift wrapping at checkout; it costs 3 euros and includes a card.";
  assert.equal((await fetch(`${SERVER}/api/v1/conversations/${id}/takeover`, { method: "POST", headers: auth(AGENT_KEY), body: "{}" })).status, 200);
  assert.equal((await fetch(`${SERVER}/api/v1/conversations/${id}/messages`, { method: "POST", headers: auth(AGENT_KEY), body: JSON.stringify({ text: reply }) })).status, 201);
  assert.equal((await fetch(`${SERVER}/api/v1/conversations/${id}/handback`, { method: "POST", headers: auth(AGENT_KEY), body: "{}" })).status, 200);

  const admin = state.admin;
  assert.ok(admin, "the admin console is open");
  await admin.reload();
  const topics = admin.getByRole("list", { name: "Topics, largest first" });
  await topics.getByRole("listitem").first().waitFor({ timeout: WAIT });
  const topic = topics.getByRole("listitem").filter({ hasText: "gift wrapping for presents" }).first();
  assert.match(await topic.innerText(), /1 to a person/);
  assert.ok(await topic.locator(".hbar .failed").count(), "the failed share is drawn");
  const suggestion = admin.locator(".suggestion").filter({ hasText: "gift wrapping for presents" }).first();
  await suggestion.waitFor({ timeout: WAIT });
  assert.equal(await suggestion.getByRole("textbox", { name: "Answer" }).inputValue(), reply, "drafted from the agent's reply");
  await admin.screenshot({ path: `${ARTIFACTS}/admin-insights.png`, fullPage: true });
  await suggestion.getByRole("button", { name: "Approve" }).click();
  await admin.locator("#notice", { hasText: "Entry added in suggested.md." }).waitFor({ timeout: WAIT });
  await admin.locator("#docs tr", { hasText: "suggested.md" }).waitFor({ timeout: WAIT });

  await ask(page, "can you gift wrap my order?");
  await page.locator(".m.assistant", { hasText: "3 euros" }).last().waitFor({ timeout: WAIT });
  await context.close();
});

await scenario("an admin writes a social post in the content studio, edits it, and the check flags an invented price", async () => {
  const admin = state.admin;
  assert.ok(admin, "the admin console is open");
  await admin.reload();
  await admin.locator('#c-items option[value="aura-buds"]').waitFor({ state: "attached", timeout: WAIT });
  await admin.locator("#c-kind").selectOption("social");
  await admin.locator("#c-items").selectOption("aura-buds");
  await admin.getByRole("button", { name: "Write draft" }).click();
  await admin.locator("#c-status", { hasText: "Written in" }).waitFor({ timeout: 60_000 });
  assert.ok((await admin.locator("#c-stream").innerText()).trim().length > 0, "the draft streamed in");
  const post = admin.getByRole("textbox", { name: "Post" });
  assert.ok((await post.inputValue()).length <= 280, "within the post's limit");
  await post.fill("Aura Buds: 8 hours of playback, now €99.");
  await admin.getByRole("button", { name: "Save" }).click();
  await admin.locator("#notice", { hasText: "Draft saved." }).waitFor({ timeout: WAIT });
  await admin.locator("#c-flags li", { hasText: "€99" }).waitFor({ timeout: WAIT });
  assert.equal(await admin.locator("#c-flags li", { hasText: ": 8" }).count(), 0, "the sources' own figure is not flagged");
  await admin.locator("#c-history li", { hasText: "social · Aura Buds: 8 hours of playback" }).waitFor({ state: "attached", timeout: WAIT });
  await admin.screenshot({ path: `${ARTIFACTS}/admin-content.png`, fullPage: true });
});

await browser.close();
site.close();
const failed = results.filter((ok) => !ok).length;
console.log(`${results.length - failed} of ${results.length} browser scenarios passed`);
process.exit(failed ? 1 : 0);
