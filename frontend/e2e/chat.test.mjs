// End-to-end: the real gateway + the built Next app + Debian's Chromium.
// Run with `npm run e2e` after `npm run build` (scripts/test-frontend.sh does both).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { artifactsDir, freePort, launchBrowser, startGateway, startSmtpSink, startWeb, vapidKeys } from './harness.mjs';

const T = 15000; // the bound of every single wait in the browser

let gateway;
let web;
let smtp;
let browser;

before(async () => {
  const webPort = await freePort();
  smtp = await startSmtpSink();
  gateway = await startGateway({ frontendUrl: `http://127.0.0.1:${webPort}`, smtpUrl: smtp.url });
  web = await startWeb({ port: webPort, chatUrl: gateway.url });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await web?.stop();
  await gateway?.stop();
  await smtp?.stop();
});

/** A fresh browser context; `visited` skips the first-visit auto-open. */
async function newContext({ viewport = { width: 1280, height: 800 }, visited = true } = {}) {
  const ctx = await browser.newContext({ viewport });
  if (visited) await ctx.addInitScript(() => window.localStorage.setItem('chat:visited', 'true'));
  return ctx;
}

async function signIn(ctx, userId) {
  const page = await ctx.newPage();
  await page.goto(`${web.url}/chat`);
  await page.getByLabel('Demo user').selectOption(userId, { timeout: T });
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('[data-testid="connection-status"][data-status="connected"]').waitFor({ timeout: T });
  return page;
}

async function openVisitorChat(ctx, { name, email = 'vera@example.org', topic = 'technical_support' }) {
  const page = await ctx.newPage();
  await page.goto(`${web.url}/`);
  await page.getByRole('button', { name: /open support chat/i }).click({ timeout: T });
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Topic').selectOption(topic);
  await page.getByRole('button', { name: 'Start Chat' }).click();
  // Active, or an error the widget shows (then the test fails with its text).
  const active = page.locator('[data-testid="support-panel"][data-phase="active"]');
  await active.or(page.getByTestId('support-panel').getByRole('alert')).first().waitFor({ timeout: T });
  if (!(await active.count())) {
    const alert = await page.getByTestId('support-panel').getByRole('alert').allInnerTexts();
    assert.fail(`support chat did not start: ${alert.join(' | ')}`);
  }
  return page;
}

async function agentOpens(agent, visitorName) {
  const item = agent.locator('[data-testid="conversation-item"]', { hasText: visitorName });
  await item.first().click({ timeout: T });
  await agent.getByTestId('conversation-title').filter({ hasText: visitorName }).waitFor({ timeout: T });
}

function messages(page) {
  return page.locator('[data-testid="message"]');
}

async function sendText(page, text) {
  const box = page.getByLabel('Message', { exact: true });
  await box.click();
  await box.pressSequentially(text, { delay: 5 });
  await box.press('Enter');
}

describe('seitech-chat in a real browser', { concurrency: 1 }, () => {
  it('a visitor and an agent chat both ways, with typing and read receipts, and a reload keeps the chat', async () => {
    const agentCtx = await newContext();
    const visitorCtx = await newContext();
    try {
      const agent = await signIn(agentCtx, '5');
      const visitor = await openVisitorChat(visitorCtx, { name: 'Vera Visitor' });
      await agentOpens(agent, 'Vera Visitor');

      // Visitor types: the agent sees it, then the message.
      const vBox = visitor.getByLabel('Message', { exact: true });
      await vBox.click();
      await vBox.pressSequentially('Hello, I cannot log in', { delay: 10 });
      await agent.getByTestId('typing-indicator').filter({ hasText: /typing/ }).waitFor({ timeout: T });
      await vBox.press('Enter');
      await messages(agent).filter({ hasText: 'Hello, I cannot log in' }).waitFor({ timeout: T });
      // The agent has the room open: the visitor's message shows as read.
      await visitor
        .locator('[data-testid="message"][data-mine="true"]', { hasText: 'Hello, I cannot log in' })
        .locator('[data-testid="tick"][data-read="true"]')
        .waitFor({ timeout: T });

      // Agent answers: typing on the visitor's side, then the message, then read.
      const aBox = agent.getByLabel('Message', { exact: true });
      await aBox.click();
      await aBox.pressSequentially('Hi Vera, Sam here. Let me help.', { delay: 10 });
      await visitor.getByTestId('typing-indicator').filter({ hasText: /typing/ }).waitFor({ timeout: T });
      await aBox.press('Enter');
      await messages(visitor).filter({ hasText: 'Hi Vera, Sam here. Let me help.' }).waitFor({ timeout: T });
      await agent
        .locator('[data-testid="message"][data-mine="true"]', { hasText: 'Hi Vera, Sam here.' })
        .locator('[data-testid="tick"][data-read="true"]')
        .waitFor({ timeout: T });
      // The typing indicator goes away once the message is in.
      await visitor.getByTestId('typing-indicator').filter({ hasText: /^$/ }).waitFor({ timeout: T });

      // A reload keeps the visitor's chat (guest token in localStorage).
      await visitor.reload();
      await visitor.getByRole('button', { name: /open support chat/i }).click({ timeout: T });
      await visitor.locator('[data-testid="support-panel"][data-phase="active"]').waitFor({ timeout: T });
      await messages(visitor).filter({ hasText: 'Hi Vera, Sam here. Let me help.' }).waitFor({ timeout: T });
      await messages(visitor).filter({ hasText: 'Hello, I cannot log in' }).waitFor({ timeout: T });
      await sendText(visitor, 'Still me after a reload');
      await messages(agent).filter({ hasText: 'Still me after a reload' }).waitFor({ timeout: T });
    } finally {
      await agentCtx.close();
      await visitorCtx.close();
    }
  });

  it('messages written offline arrive once each, in order, when the network is back', async () => {
    const agentCtx = await newContext();
    const visitorCtx = await newContext();
    try {
      const agent = await signIn(agentCtx, '5');
      const visitor = await openVisitorChat(visitorCtx, { name: 'Olga Offline', email: 'olga@example.org' });
      await agentOpens(agent, 'Olga Offline');

      await visitorCtx.setOffline(true);
      await visitor.getByTestId('availability').filter({ hasText: /offline/i }).waitFor({ timeout: T });
      const texts = ['offline one', 'offline two', 'offline three'];
      for (const t of texts) await sendText(visitor, t);
      await visitor.locator('[data-testid="message"][data-status="pending"]').nth(2).waitFor({ timeout: T });
      assert.equal(await visitor.locator('[data-testid="message"][data-status="pending"]').count(), 3);

      await visitorCtx.setOffline(false);
      await visitor.locator('[data-testid="message"][data-mine="true"]', { hasText: 'offline three' }).and(visitor.locator('[data-status="sent"]')).waitFor({ timeout: T });
      // A marker sent after them: once the agent has it, anything duplicated would be there too.
      await sendText(visitor, 'marker after offline');
      await messages(agent).filter({ hasText: 'marker after offline' }).waitFor({ timeout: T });

      const seen = async (page) =>
        (await messages(page).allInnerTexts()).map((t) => texts.find((x) => t.includes(x))).filter(Boolean);
      assert.deepEqual(await seen(agent), texts, 'agent sees each offline message once, in order');
      assert.deepEqual(await seen(visitor), texts, 'visitor sees each once, none left pending');
      assert.equal(await visitor.locator('[data-testid="message"][data-status="pending"]').count(), 0);

      // The gateway stored them once each: a fresh load of the agent's history agrees.
      await agent.reload();
      await agentOpens(agent, 'Olga Offline');
      await messages(agent).filter({ hasText: 'marker after offline' }).waitFor({ timeout: T });
      assert.deepEqual(await seen(agent), texts, 'history after reload has each once, in order');
    } finally {
      await agentCtx.close();
      await visitorCtx.close();
    }
  });

  it('two tabs of one user stay in sync: conversations, messages, drafts and read state', async () => {
    const adaCtx = await newContext();
    const ianCtx = await newContext();
    try {
      const tabA = await signIn(adaCtx, '1');
      const tabB = await adaCtx.newPage();
      await tabB.goto(`${web.url}/chat`); // the same browser: already signed in
      await tabB.locator('[data-testid="connection-status"][data-status="connected"]').waitFor({ timeout: T });
      const ian = await signIn(ianCtx, '2');

      // Tab A starts a conversation with the instructor; tab B and Ian see it.
      await tabA.getByRole('button', { name: 'New conversation' }).click();
      await tabA.getByRole('button', { name: /Ian Instructor/ }).click({ timeout: T });
      await tabA.getByTestId('conversation-title').filter({ hasText: 'Ian Instructor' }).waitFor({ timeout: T });
      await tabB.locator('[data-testid="conversation-item"]', { hasText: 'Ian Instructor' }).waitFor({ timeout: T });
      await ian.locator('[data-testid="conversation-item"]', { hasText: 'Ada Student' }).waitFor({ timeout: T });

      // A message sent in tab A shows in tab B.
      await tabB.locator('[data-testid="conversation-item"]', { hasText: 'Ian Instructor' }).click();
      await sendText(tabA, 'Sent from tab A');
      await messages(tabB).filter({ hasText: 'Sent from tab A' }).waitFor({ timeout: T });
      // Ian has not opened it: unread there.
      await ian.locator('[data-testid="conversation-item"]', { hasText: 'Ada Student' }).getByTestId('unread-badge').waitFor({ timeout: T });

      // A draft typed in tab A appears in tab B.
      await tabA.getByLabel('Message', { exact: true }).fill('half-written thought');
      await tabB.waitForFunction(
        () => document.querySelector('textarea[id^="composer-"]')?.value === 'half-written thought',
        null,
        { timeout: T },
      );

      // Read state: Ian writes while both of Ada's tabs are on the list; both count it
      // unread; opening it in one tab clears the badge in the other.
      await tabA.goto(`${web.url}/chat`);
      await tabB.goto(`${web.url}/chat`);
      for (const tab of [tabA, tabB]) await tab.locator('[data-testid="connection-status"][data-status="connected"]').waitFor({ timeout: T });
      await ian.locator('[data-testid="conversation-item"]', { hasText: 'Ada Student' }).click();
      await sendText(ian, 'Question answered in the forum');
      for (const tab of [tabA, tabB]) {
        await tab.locator('[data-testid="conversation-item"]', { hasText: 'Ian Instructor' }).getByTestId('unread-badge').waitFor({ timeout: T });
      }
      await tabA.locator('[data-testid="conversation-item"]', { hasText: 'Ian Instructor' }).click();
      await messages(tabA).filter({ hasText: 'Question answered in the forum' }).waitFor({ timeout: T });
      await tabB
        .locator('[data-testid="conversation-item"]', { hasText: 'Ian Instructor' })
        .getByTestId('unread-badge')
        .waitFor({ state: 'detached', timeout: T });
      // And Ian sees his message read.
      await ian
        .locator('[data-testid="message"][data-mine="true"]', { hasText: 'Question answered' })
        .locator('[data-testid="tick"][data-read="true"]')
        .waitFor({ timeout: T });
    } finally {
      await adaCtx.close();
      await ianCtx.close();
    }
  });

  it('uploads a file and the other side gets it', async () => {
    const adaCtx = await newContext();
    const ianCtx = await newContext();
    try {
      const ada = await signIn(adaCtx, '1');
      const ian = await signIn(ianCtx, '2');
      await ada.getByRole('button', { name: 'New conversation' }).click();
      await ada.getByRole('button', { name: /Ian Instructor/ }).click({ timeout: T });
      await ada.getByTestId('conversation-title').filter({ hasText: 'Ian Instructor' }).waitFor({ timeout: T });
      await ian.locator('[data-testid="conversation-item"]', { hasText: 'Ada Student' }).click({ timeout: T });

      // A real 1×1 PNG, so the gateway's check by content accepts it.
      const png = Buffer.from(
        'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
        'base64',
      );
      await ada.getByTestId('file-input').setInputFiles({ name: 'homework.png', mimeType: 'image/png', buffer: png });
      const upload = ada.getByTestId('upload').filter({ hasText: 'homework.png' });
      await upload.filter({ hasText: /Ready|not available|failed|supported|large/i }).waitFor({ timeout: T });
      const uploadText = await upload.innerText();
      assert.match(uploadText, /Ready/, `upload did not finish: ${uploadText}`);
      await sendText(ada, 'My homework');
      const got = messages(ian).filter({ hasText: 'My homework' });
      await got.waitFor({ timeout: T });
      const link = got.getByTestId('attachment');
      await link.waitFor({ timeout: T });
      // The other participant can fetch it.
      const href = await link.getAttribute('href');
      assert.ok(href, 'attachment has a link');
      // The signed URL works as it is: the image shows in the other browser,
      // and the file comes back with its type.
      await ian.waitForFunction(
        () => [...document.querySelectorAll('[data-testid="attachment"] img')].some((img) => img.complete && img.naturalWidth > 0),
        null,
        { timeout: T },
      );
      const res = await fetch(href, { signal: AbortSignal.timeout(T) });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'image/png');
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), png);
    } finally {
      await adaCtx.close();
      await ianCtx.close();
    }
  });

  it('a visitor uploads in the widget with the guest token and the agent gets the file', async () => {
    const agentCtx = await newContext();
    const visitorCtx = await newContext();
    try {
      const agent = await signIn(agentCtx, '5');
      const visitor = await openVisitorChat(visitorCtx, { name: 'Una Uploader', email: 'una@example.org' });
      await agentOpens(agent, 'Una Uploader');
      await visitor.getByTestId('file-input').setInputFiles({ name: 'error-log.txt', mimeType: 'text/plain', buffer: Buffer.from('error 42: cannot log in\n') });
      const upload = visitor.getByTestId('upload').filter({ hasText: 'error-log.txt' });
      await upload.filter({ hasText: /Ready|not available|failed|supported|large/i }).waitFor({ timeout: T });
      const uploadText = await upload.innerText();
      assert.match(uploadText, /Ready/, `upload did not finish: ${uploadText}`);
      await sendText(visitor, 'Here is the log');
      const got = messages(agent).filter({ hasText: 'Here is the log' });
      await got.waitFor({ timeout: T });
      const link = got.getByTestId('attachment');
      await link.filter({ hasText: 'error-log.txt' }).waitFor({ timeout: T });
      const res = await fetch(await link.getAttribute('href'), { signal: AbortSignal.timeout(T) });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'error 42: cannot log in\n');
    } finally {
      await agentCtx.close();
      await visitorCtx.close();
    }
  });

  it('the visitor gets the transcript by email, the agent ends the chat, the visitor rates it', async () => {
    const agentCtx = await newContext();
    const visitorCtx = await newContext();
    try {
      const agent = await signIn(agentCtx, '5');
      const visitor = await openVisitorChat(visitorCtx, { name: 'Rita Rater', email: 'rita@example.org', topic: 'billing' });
      await agentOpens(agent, 'Rita Rater');
      await sendText(visitor, 'Where is my invoice?');
      await messages(agent).filter({ hasText: 'Where is my invoice?' }).waitFor({ timeout: T });
      await sendText(agent, 'It is on its way to rita@example.org');
      await messages(visitor).filter({ hasText: 'It is on its way' }).waitFor({ timeout: T });

      await visitor.getByRole('button', { name: 'Email me the transcript' }).click();
      await visitor.getByTestId('transcript-status').filter({ hasText: /Transcript sent to rita@example.org/ }).waitFor({ timeout: T });
      const mail = await smtp.waitFor((m) => m.to.some((t) => t.includes('rita@example.org')));
      assert.match(mail.data, /Where is my invoice\?/);

      await agent.getByRole('button', { name: 'End chat' }).click();
      await visitor.getByTestId('chat-ended').waitFor({ timeout: T });
      await visitor.getByRole('radio', { name: '4 stars' }).click();
      await visitor.getByLabel('Comment (optional)').fill('Quick and friendly');
      await visitor.getByRole('button', { name: 'Submit rating' }).click();
      await visitor.getByTestId('rating-thanks').waitFor({ timeout: T });
    } finally {
      await agentCtx.close();
      await visitorCtx.close();
    }
  });

  it('without Web Push (no gateway key, no PushManager, permission refused) the chat works and nothing breaks', async () => {
    const pushState = (page) => page.getByTestId('chat-interface').getAttribute('data-push');
    const settled = (page) =>
      page.locator('[data-testid="chat-interface"]:not([data-push="idle"]):not([data-push="subscribing"])').waitFor({ timeout: T });
    const watch = (page) => {
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      return errors;
    };

    // 1. Notifications allowed, but this gateway has no VAPID key: its key
    // route answers 404 and the page skips push without registering a worker.
    const allowed = await newContext();
    try {
      await allowed.grantPermissions(['notifications'], { origin: web.url });
      const keyAnswers = [];
      allowed.on('response', (r) => {
        if (r.url().endsWith('/api/chat/push/key')) keyAnswers.push(r.status());
      });
      const ada = await signIn(allowed, '1');
      const errors = watch(ada);
      await settled(ada);
      assert.equal(await pushState(ada), 'not-configured');
      assert.deepEqual(keyAnswers, [404]);
      assert.equal(await ada.evaluate(async () => (await navigator.serviceWorker.getRegistrations()).length), 0);
      assert.equal(await ada.getByRole('button', { name: 'Enable notifications' }).count(), 0, 'permission already granted');
      // The chat itself works: a new conversation, a message that is sent.
      await ada.getByRole('button', { name: 'New conversation' }).click();
      await ada.getByRole('button', { name: /Ian Instructor/ }).click({ timeout: T });
      await ada.getByTestId('conversation-title').filter({ hasText: 'Ian Instructor' }).waitFor({ timeout: T });
      await sendText(ada, 'push-less but fine');
      await ada.locator('[data-testid="message"][data-status="sent"]', { hasText: 'push-less but fine' }).waitFor({ timeout: T });
      // A notification's link (/chat?room=<id>) opens that conversation.
      const roomId = await ada.locator('[data-testid="conversation-item"]', { hasText: 'Ian Instructor' }).first().getAttribute('data-room-id');
      assert.ok(roomId, 'conversation item has its room id');
      await ada.goto(`${web.url}/chat?room=${encodeURIComponent(roomId)}`);
      await ada.getByTestId('conversation-title').filter({ hasText: 'Ian Instructor' }).waitFor({ timeout: T });
      await messages(ada).filter({ hasText: 'push-less but fine' }).waitFor({ timeout: T });
      await settled(ada);
      assert.deepEqual(errors, []);
    } finally {
      await allowed.close();
    }

    // 2. A browser without PushManager: skipped before asking the gateway.
    const noPush = await newContext();
    try {
      await noPush.grantPermissions(['notifications'], { origin: web.url });
      await noPush.addInitScript(() => {
        delete window.PushManager;
      });
      let keyAsked = false;
      noPush.on('request', (r) => {
        if (r.url().endsWith('/api/chat/push/key')) keyAsked = true;
      });
      const ian = await signIn(noPush, '2');
      const errors = watch(ian);
      await settled(ian);
      assert.equal(await pushState(ian), 'unsupported');
      assert.equal(keyAsked, false);
      assert.deepEqual(errors, []);
    } finally {
      await noPush.close();
    }

    // 3. Not allowed yet: the button asks; headless Chromium refuses; the
    // page goes on without push.
    const asking = await newContext();
    try {
      const ada = await signIn(asking, '1');
      const errors = watch(ada);
      const button = ada.getByRole('button', { name: 'Enable notifications' });
      await button.click({ timeout: T });
      await button.waitFor({ state: 'detached', timeout: T });
      assert.equal(await ada.evaluate(() => Notification.permission), 'denied');
      assert.equal(await pushState(ada), 'idle');
      await ada.locator('[data-testid="connection-status"][data-status="connected"]').waitFor({ timeout: T });
      assert.deepEqual(errors, []);
    } finally {
      await asking.close();
    }
  });

  it('with a gateway push key, the worker registers and a push service that refuses leaves the page working', async () => {
    // The key route of a gateway that has a VAPID key: its JSON shape, and the
    // public half of the configured key.
    const keys = vapidKeys();
    const keyed = await startGateway({ frontendUrl: web.url, extraArgs: [`--vapid-private-key=${keys.privateKey}`] });
    let keyBody;
    try {
      const res = await fetch(`${keyed.url}/api/chat/push/key`, { signal: AbortSignal.timeout(T) });
      assert.equal(res.status, 200);
      keyBody = await res.json();
      assert.deepEqual(keyBody, { publicKey: keys.publicKey });
    } finally {
      await keyed.stop();
    }

    // The app's gateway answers with that key; Chromium's push service is not
    // reachable here (and Playwright's contexts are incognito), so the
    // subscription is refused: the status says so, nothing else changes.
    const ctx = await newContext();
    try {
      await ctx.grantPermissions(['notifications'], { origin: web.url });
      await ctx.route(`${gateway.url}/api/chat/push/key`, (route) =>
        route.fulfill({
          status: 200,
          contentType: 'application/json',
          headers: { 'access-control-allow-origin': web.url },
          body: JSON.stringify(keyBody),
        }),
      );
      const ada = await signIn(ctx, '1');
      const errors = [];
      ada.on('pageerror', (e) => errors.push(e.message));
      await ada.locator('[data-testid="chat-interface"]:not([data-push="idle"]):not([data-push="subscribing"])').waitFor({ timeout: T });
      const status = await ada.getByTestId('chat-interface').getAttribute('data-push');
      assert.ok(['failed', 'subscribed'].includes(status), `push status ${status}`);
      // public/sw.js is served, parses and activates.
      const sw = await ada.evaluate(async () => {
        const reg = await navigator.serviceWorker.getRegistration('/');
        return reg ? { script: reg.active?.scriptURL ?? null, scope: reg.scope } : null;
      });
      assert.deepEqual(sw, { script: `${web.url}/sw.js`, scope: `${web.url}/` });
      await ada.locator('[data-testid="connection-status"][data-status="connected"]').waitFor({ timeout: T });
      await ada.getByRole('button', { name: 'New conversation' }).click();
      await ada.getByRole('button', { name: /Ian Instructor/ }).click({ timeout: T });
      await sendText(ada, 'still chatting');
      await ada.locator('[data-testid="message"][data-status="sent"]', { hasText: 'still chatting' }).waitFor({ timeout: T });
      assert.deepEqual(errors, []);
    } finally {
      await ctx.close();
    }
  });

  for (const viewport of [
    { width: 375, height: 667 },
    { width: 1280, height: 800 },
  ]) {
    it(`the widget fits ${viewport.width}×${viewport.height} (screenshots in test-artifacts/)`, async () => {
      const ctx = await newContext({ viewport, visited: false });
      try {
        const page = await ctx.newPage();
        await page.goto(`${web.url}/`);
        const dir = artifactsDir();
        const tag = `${viewport.width}x${viewport.height}`;
        const launcher = page.getByRole('button', { name: /open support chat/i });
        await launcher.waitFor({ timeout: T });
        await page.screenshot({ path: path.join(dir, `widget-closed-${tag}.png`), animations: 'disabled' });
        // First visit: on a wide screen it opens by itself, once; on a phone
        // the launcher gets a badge instead and the visitor opens it.
        const panel = page.getByTestId('support-panel');
        if (viewport.width < 640) {
          await page.getByRole('button', { name: /open support chat, 1 new/i }).click({ timeout: T });
        }
        await panel.waitFor({ timeout: T });
        await page.getByText('Start Chat').waitFor({ timeout: T });
        await panel.evaluate((el) => Promise.all(el.getAnimations().map((a) => a.finished)));
        const box = await panel.boundingBox();
        assert.ok(box, 'panel has a box');
        assert.ok(box.x >= 0 && box.y >= 0, 'panel starts inside the viewport');
        assert.ok(box.x + box.width <= viewport.width + 0.5, 'panel fits the width');
        assert.ok(box.y + box.height <= viewport.height + 0.5, 'panel fits the height');
        if (viewport.width < 640) assert.equal(Math.round(box.width), viewport.width, 'full width on a phone');
        else assert.ok(box.width <= 400, 'a floating panel on desktop');
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `no horizontal scroll (overflow ${overflow}px)`);
        // Keyboard: Escape minimises and focus returns to the launcher.
        await page.keyboard.press('Escape');
        await launcher.waitFor({ timeout: T });
        assert.equal(await launcher.evaluate((el) => el === document.activeElement), true);
        await launcher.press('Enter');
        await page.getByLabel('Your name').waitFor({ timeout: T });
        assert.equal(await page.getByLabel('Your name').evaluate((el) => el === document.activeElement), true);
        await page.screenshot({ path: path.join(dir, `widget-prechat-${tag}.png`), animations: 'disabled' });

        // After a reload the first-visit opening does not happen again.
        await page.reload();
        await launcher.waitFor({ timeout: T });
        assert.equal(await page.evaluate(() => window.localStorage.getItem('chat:visited')), 'true');

        // The full interface at the same size.
        const chat = await signIn(ctx, '1');
        await chat.screenshot({ path: path.join(dir, `interface-${tag}.png`), animations: 'disabled' });
        const chatOverflow = await chat.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(chatOverflow <= 0, `no horizontal scroll in /chat (overflow ${chatOverflow}px)`);
      } finally {
        await ctx.close();
      }
    });
  }
});
