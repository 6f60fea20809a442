// Makes the README's screenshots (frontend/docs/*.png, at the sizes the
// README states: the widget 375×667, the interface 1024×640) against the
// gateway binary on the demo's own directory, as `run.sh` serves it:
// `GATEWAY_BIN=... node e2e/screenshots.mjs` after `npm run build`.
// Not a test; the e2e tests save their own screenshots in test-artifacts/.

import path from 'node:path';
import { FRONTEND, freePort, launchBrowser, startGateway, startWeb } from './harness.mjs';

const port = await freePort();
const gateway = await startGateway({ frontendUrl: `http://127.0.0.1:${port}`, directoryFile: null });
const web = await startWeb({ port, chatUrl: gateway.url });
const browser = await launchBrowser();
const T = 15000;
try {
  const signIn = async (ctx, id) => {
    const page = await ctx.newPage();
    await page.goto(`${web.url}/chat`);
    await page.getByLabel('Demo user').selectOption(id, { timeout: T });
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[data-testid="connection-status"][data-status="connected"]').waitFor({ timeout: T });
    return page;
  };
  const send = async (page, text) => {
    const box = page.getByLabel('Message', { exact: true });
    await box.fill(text);
    await box.press('Enter');
    await page.locator('[data-testid="message"][data-status="sent"]', { hasText: text }).waitFor({ timeout: T });
  };

  // Sam answers technical support; the visitor asks on a phone.
  const samCtx = await browser.newContext({ viewport: { width: 1024, height: 640 } });
  const sam = await signIn(samCtx, '5');

  const vCtx = await browser.newContext({ viewport: { width: 375, height: 667 } });
  await vCtx.addInitScript(() => window.localStorage.setItem('chat:visited', 'true'));
  const visitor = await vCtx.newPage();
  await visitor.goto(`${web.url}/`);
  await visitor.getByRole('button', { name: /open support chat/i }).click({ timeout: T });
  await visitor.getByLabel('Your name').fill('Vera Visitor');
  await visitor.getByLabel('Email').fill('vera@example.org');
  await visitor.getByLabel('Topic').selectOption('technical_support');
  await visitor.getByLabel('How can we help? (optional)').fill('The video in lesson 4 stops after a minute.');
  await visitor.getByRole('button', { name: 'Start Chat' }).click();
  await visitor.getByTestId('availability').filter({ hasText: 'You are chatting with Sam Agent' }).waitFor({ timeout: T });

  await sam.locator('[data-testid="conversation-item"]', { hasText: 'Vera Visitor' }).first().click({ timeout: T });
  await sam.getByTestId('visitor-panel').waitFor({ timeout: T });
  await send(sam, 'Hi Vera, Sam here. Which browser do you use?');
  await visitor.locator('[data-testid="message"]', { hasText: 'Which browser' }).waitFor({ timeout: T });
  await send(visitor, 'Firefox, on my phone.');
  await sam.locator('[data-testid="message"]', { hasText: 'Firefox, on my phone.' }).waitFor({ timeout: T });
  await send(sam, 'Thanks! Please try again now: I have reset your video progress.');
  await visitor.locator('[data-testid="message"]', { hasText: 'reset your video progress' }).waitFor({ timeout: T });
  await sam.locator('[data-testid="tick"][data-read="true"]').last().waitFor({ timeout: T });

  await visitor.getByTestId('support-panel').evaluate((el) => Promise.all(el.getAnimations().map((a) => a.finished)));
  await visitor.screenshot({ path: path.join(FRONTEND, 'docs', 'widget.png'), animations: 'disabled' });
  await sam.screenshot({ path: path.join(FRONTEND, 'docs', 'interface.png'), animations: 'disabled' });
} finally {
  await browser.close();
  await web.stop();
  await gateway.stop();
}
