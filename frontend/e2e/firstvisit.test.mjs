// The first visit (issue 16), walked as a newcomer would after `run.sh`: the
// gateway on the demo's own directory (Sam support, Sue sales, Bea billing,
// Gus general), the built app, Debian's Chromium. Screenshots of each step go
// to test-artifacts/.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { artifactsDir, freePort, launchBrowser, startGateway, startWeb } from './harness.mjs';

const T = 15000;

let gateway;
let web;
let browser;
const contexts = [];

before(async () => {
  const webPort = await freePort();
  gateway = await startGateway({ frontendUrl: `http://127.0.0.1:${webPort}`, directoryFile: null });
  web = await startWeb({ port: webPort, chatUrl: gateway.url });
  browser = await launchBrowser();
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await web?.stop();
  await gateway?.stop();
});

async function newContext({ viewport = { width: 1280, height: 800 }, visited = true } = {}) {
  const ctx = await browser.newContext({ viewport });
  contexts.push(ctx);
  if (visited) await ctx.addInitScript(() => window.localStorage.setItem('chat:visited', 'true'));
  return ctx;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifactsDir(), `firstvisit-${name}.png`), animations: 'disabled' });
}

/** Signs a demo user in on /chat in its own browser context; the page stays open (online). */
async function signIn(userId) {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await page.goto(`${web.url}/chat`);
  await page.getByLabel('Demo user').selectOption(userId, { timeout: T });
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('[data-testid="connection-status"][data-status="connected"]').waitFor({ timeout: T });
  return page;
}

/** Opens the widget as a new visitor and fills the form (without starting). */
async function visitorForm({ name, topic, message }) {
  const ctx = await newContext();
  const page = await ctx.newPage();
  await page.goto(`${web.url}/`);
  await page.getByRole('button', { name: /open support chat/i }).click({ timeout: T });
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('Email').fill(`${name.split(' ')[0].toLowerCase()}@example.org`);
  await page.getByLabel('Topic').selectOption(topic);
  if (message) await page.getByLabel('How can we help? (optional)').fill(message);
  return page;
}

const status = (page) => page.getByTestId('availability');

/** The widget shows exactly one status line, with this text and tone. */
async function statusIs(page, text, tone) {
  await status(page).filter({ hasText: text }).waitFor({ timeout: T });
  if (tone) assert.equal(await status(page).getAttribute('data-tone'), tone);
  // Nothing else in the panel speaks about availability or the queue.
  const panelText = await page.getByTestId('support-panel').innerText();
  const statusText = await status(page).innerText();
  const rest = panelText.replace(statusText, '');
  assert.doesNotMatch(rest, /agents? online|will be with you shortly|in the queue|You are chatting with|is away:/, `a second status in: ${rest}`);
}

async function startChat(page) {
  await page.getByRole('button', { name: 'Start Chat' }).click();
  await page.locator('[data-testid="support-panel"]:not([data-phase="pre-chat"]):not([data-phase="connecting"])').waitFor({ timeout: T });
}

async function sendText(page, text) {
  const box = page.getByLabel('Message', { exact: true });
  await box.click();
  await box.fill(text);
  await box.press('Enter');
  await page.locator('[data-testid="message"][data-status="sent"]', { hasText: text }).waitFor({ timeout: T });
}

describe('the first visit, on the demo directory', { concurrency: 1 }, () => {
  it('the /chat picker lists every demo user by role and says who answers which topic', async () => {
    const ctx = await newContext();
    const page = await ctx.newPage();
    await page.goto(`${web.url}/chat`);
    const select = page.getByLabel('Demo user');
    await select.locator('option[value="6"]').waitFor({ state: 'attached', timeout: T });
    const groups = await select.locator('optgroup').evaluateAll((gs) =>
      gs.map((g) => [g.label, [...g.querySelectorAll('option')].map((o) => o.value)]),
    );
    assert.deepEqual(groups, [
      ['Students', ['1', '3']],
      ['Instructors', ['2']],
      ['Support agents (answer the widget)', ['7', '8', '5', '6']],
      ['Admins', ['9']],
    ]);
    const who = await page.getByTestId('who-answers').innerText();
    for (const line of ['Sue Sales answers Course inquiry', 'Sam Agent answers Technical support', 'Bea Billing answers Billing', 'Gus General answers Other']) {
      assert.ok(who.includes(line), `"${line}" in: ${who}`);
    }
    await shot(page, 'picker');
  });

  it('with nobody online the widget says the chosen team is away, and never contradicts itself; no false Read tick', async () => {
    const v = await visitorForm({ name: 'Vic Away', topic: 'course_inquiry' });
    await statusIs(v, 'Our sales team is away', 'away');
    await v.getByLabel('Topic').selectOption('billing');
    await statusIs(v, 'Our billing team is away', 'away');
    await v.getByLabel('How can we help? (optional)').fill('Where is my invoice?');
    await startChat(v);
    assert.equal(await v.getByTestId('support-panel').getAttribute('data-phase'), 'queued');
    await statusIs(v, 'Our billing team is away: we will answer by email', 'away');
    // The desk's away notice is in the chat; the visitor's own message is not "Read".
    await v.locator('[data-testid="system-message"]', { hasText: 'Our billing team is away' }).waitFor({ timeout: T });
    const mine = v.locator('[data-testid="message"][data-mine="true"]', { hasText: 'Where is my invoice?' });
    await mine.waitFor({ timeout: T });
    assert.equal(await mine.getByTestId('tick').getAttribute('data-read'), 'false');
    await shot(v, 'queued-away');

    // Bea (billing) comes online: the chat is hers, and the status says so alone.
    const bea = await signIn('7');
    await statusIs(v, 'You are chatting with Bea Billing', 'online');
    assert.equal(await mine.getByTestId('tick').getAttribute('data-read'), 'false', 'nobody has read it yet');
    await bea.locator('[data-testid="conversation-item"]', { hasText: 'Vic Away' }).first().click({ timeout: T });
    await mine.locator('[data-testid="tick"][data-read="true"]').waitFor({ timeout: T });
    // Her visitor panel: email, topic, department, the page she came from.
    await bea.getByTestId('visitor-email').filter({ hasText: 'vic@example.org' }).waitFor({ timeout: T });
    assert.match(await bea.getByTestId('visitor-topic').innerText(), /Billing · billing department/);
    // …and the page the visitor opened the widget on, as a link.
    assert.equal(await bea.getByTestId('visitor-page').getByRole('link').getAttribute('href'), `${web.url}/`);

    // The visitor's last message stays in view when the chat ends.
    await sendText(v, 'Thanks, that was all.');
    await bea.getByRole('button', { name: 'End chat' }).click();
    await statusIs(v, 'Chat ended', 'ended');
    await v.getByTestId('chat-ended').waitFor({ timeout: T });
    const last = v.locator('[data-testid="message"]', { hasText: 'Thanks, that was all.' });
    await v.waitForFunction(
      () => {
        const scroller = document.querySelector('[data-testid="support-panel"] [data-testid="message-scroller"]');
        const msgs = [...document.querySelectorAll('[data-testid="support-panel"] [data-testid="message"]')];
        const m = msgs.find((x) => x.textContent.includes('Thanks, that was all.'));
        if (!scroller || !m) return false;
        const a = scroller.getBoundingClientRect();
        const b = m.getBoundingClientRect();
        return b.top >= a.top - 1 && b.bottom <= a.bottom + 1;
      },
      null,
      { timeout: T },
    );
    assert.ok(await last.isVisible());
    await shot(v, 'ended');
    // The agent's side: "Chat ended", and an ended line; no "Online · ended".
    await bea.getByTestId('presence').filter({ hasText: /^Chat ended$/ }).waitFor({ timeout: T });
    await bea.getByTestId('chat-ended-line').waitFor({ timeout: T });
  });

  it('each topic reaches its own department’s agent, and the header counts that department only', async () => {
    await signIn('5');
    await signIn('6');
    await signIn('8');
    // Bea is still signed in from the previous test.
    const cases = [
      ['course_inquiry', 'Sue Sales', '2 agents online'], // Sue + Gus (general helps everyone)
      ['technical_support', 'Sam Agent', '2 agents online'],
      ['billing', 'Bea Billing', '2 agents online'],
      ['other', 'Gus General', '1 agent online'],
    ];
    for (const [topic, agent, online] of cases) {
      // Not named after the topic: a guest may not call itself "… support" (staff-like names are refused).
      const v = await visitorForm({ name: `Val ${topic.split('_')[0]}`, topic, message: `About ${topic}` });
      await statusIs(v, online, 'online');
      await startChat(v);
      await statusIs(v, `You are chatting with ${agent}`, 'online');
      await v.locator('[data-testid="system-message"]', { hasText: `${agent} joined the chat` }).waitFor({ timeout: T });
      if (topic === 'course_inquiry') await shot(v, 'course-inquiry-assigned');
      await v.getByRole('button', { name: 'End chat' }).click();
      await statusIs(v, 'Chat ended', 'ended');
    }
  });

  it('the queue and the supervisor view are live; an agent takes a chat and transfers it', async () => {
    const pages = {};
    for (const id of ['5', '8', '6', '9']) pages[id] = await signIn(id);
    const { 5: sam, 8: gus, 6: sue, 9: admin } = pages;
    // Nobody takes technical support automatically: Sam and Gus step away.
    for (const p of [sam, gus]) {
      await p.getByLabel('Available for support').uncheck();
    }
    await admin
      .locator('[data-testid="desk-agent"][data-agent-id="5"] [data-testid="desk-agent-status"]', { hasText: 'unavailable' })
      .first()
      .waitFor({ timeout: T });
    await sam.getByTestId('open-desk').click();
    await sam.getByTestId('queue-empty').waitFor({ timeout: T });

    const v = await visitorForm({ name: 'Quinn Queue', topic: 'technical_support', message: 'The quiz page is blank' });
    await startChat(v);
    // Sam and Gus are online but stepped away: nobody promises "shortly".
    await statusIs(v, /Our support team is away: we will answer by email \(you are number 1 in the queue\)/, 'away');
    // Live: Sam's queue and the admin's supervisor view show the visitor without a reload.
    const item = sam.locator('[data-testid="queue-item"]', { hasText: 'Quinn Queue' });
    await item.waitFor({ timeout: T });
    assert.match(await item.innerText(), /Technical support \(support\) · #1 · waiting/);
    assert.match(await item.innerText(), /The quiz page is blank/);
    await admin.locator('[data-testid="queue-item"]', { hasText: 'Quinn Queue' }).waitFor({ timeout: T });
    await shot(admin, 'supervisor');
    await shot(sam, 'queue');

    await sam.getByRole('button', { name: 'Take the chat with Quinn Queue' }).click();
    await sam.getByTestId('conversation-title').filter({ hasText: 'Quinn Queue' }).waitFor({ timeout: T });
    await statusIs(v, 'You are chatting with Sam Agent', 'online');
    await admin.locator('[data-testid="queue-item"]', { hasText: 'Quinn Queue' }).waitFor({ state: 'detached', timeout: T });
    await admin
      .locator('[data-testid="desk-agent"][data-agent-id="5"] [data-testid="desk-agent-load"]', { hasText: /^1\// })
      .waitFor({ timeout: T });

    // Transfer to Sue: a system line for everyone, Sue has it, the admin sees the load move.
    await sam.getByTestId('visitor-panel').waitFor({ timeout: T });
    await sam.getByLabel('Transfer to').selectOption({ label: 'Sue Sales (sales)' });
    await sam.getByRole('button', { name: 'Transfer', exact: true }).click();
    await v.locator('[data-testid="system-message"]', { hasText: 'Sam Agent transferred the chat to Sue Sales' }).waitFor({ timeout: T });
    await statusIs(v, 'You are chatting with Sue Sales', 'online');
    await sue.locator('[data-testid="conversation-item"]', { hasText: 'Quinn Queue' }).first().waitFor({ timeout: T });
    await admin
      .locator('[data-testid="desk-agent"][data-agent-id="6"] [data-testid="desk-agent-load"]', { hasText: /^1\// })
      .waitFor({ timeout: T });
    await admin
      .locator('[data-testid="desk-agent"][data-agent-id="5"] [data-testid="desk-agent-load"]', { hasText: /^0\// })
      .waitFor({ timeout: T });
    await shot(v, 'transferred');

    // The admin can serve support too: once switched on, it is on the desk as a general agent.
    await admin.getByLabel('Serve support chats').check();
    await admin
      .locator('[data-testid="desk-agent"][data-agent-id="9"] [data-testid="desk-agent-status"]', { hasText: /^available$/ })
      .waitFor({ timeout: T });
    assert.match(await admin.locator('[data-testid="desk-agent"][data-agent-id="9"]').innerText(), /Root Admin\s+general/);
  });

  it('on a phone, a first visit shows the launcher with a badge instead of covering the page', async () => {
    const ctx = await newContext({ viewport: { width: 375, height: 667 }, visited: false });
    const page = await ctx.newPage();
    await page.goto(`${web.url}/`);
    const launcher = page.getByRole('button', { name: /open support chat, 1 new/i });
    await launcher.waitFor({ timeout: T });
    assert.equal(await page.getByTestId('support-panel').count(), 0, 'the panel did not open by itself');
    assert.equal(await page.getByTestId('unread-count').innerText(), '1');
    await shot(page, 'phone-badge');
    await launcher.click();
    await page.getByLabel('Your name').waitFor({ timeout: T });
    await page.getByRole('button', { name: 'Minimise chat' }).click();
    assert.equal(await page.getByTestId('unread-count').count(), 0, 'the badge is gone once opened');
  });
});
