// Makes the README's screenshots (frontend/docs/*.png) against a running
// gateway binary: `GATEWAY_BIN=... node e2e/screenshots.mjs` after `npm run build`.
// Not a test; the e2e tests save their own screenshots in test-artifacts/.

import path from 'node:path';
import { FRONTEND, freePort, launchBrowser, startGateway, startWeb } from './harness.mjs';

const port = await freePort();
const gateway = await startGateway({ frontendUrl: `http://127.0.0.1:${port}` });
const web = await startWeb({ port, chatUrl: gateway.url });
const browser = await launchBrowser();
const T = 15000;
try {
  const signIn = async (ctx, id) => {
    const page = await ctx.newPage();
    await page.goto(`${web.url}/chat`);
    await page.getByLabel('Demo user').selectOption(id);
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
  const adaCtx = await browser.newContext({ viewport: { width: 1024, height: 640 } });
  const ianCtx = await browser.newContext({ viewport: { width: 1024, height: 640 } });
  const ada = await signIn(adaCtx, '1');
  const ian = await signIn(ianCtx, '2');
  await ada.getByRole('button', { name: 'New conversation' }).click();
  await ada.getByRole('button', { name: /Ian Instructor/ }).click({ timeout: T });
  await ian.locator('[data-testid="conversation-item"]', { hasText: 'Ada Student' }).click({ timeout: T });
  await send(ada, 'Hi Ian, is the week 3 quiz open yet?');
  await send(ian, 'Yes, since this morning. Notes: https://example.org/py101/week-3');
  await send(ada, 'Thanks, see you on Thursday.');
  await ada.locator('[data-testid="tick"][data-read="true"]').last().waitFor({ timeout: T });
  await ada.screenshot({ path: path.join(FRONTEND, 'docs', 'interface.png'), animations: 'disabled' });

  const vCtx = await browser.newContext({ viewport: { width: 375, height: 667 } });
  await vCtx.addInitScript(() => window.localStorage.setItem('chat:visited', 'true'));
  const visitor = await vCtx.newPage();
  await visitor.goto(`${web.url}/`);
  await visitor.getByRole('button', { name: /open support chat/i }).click();
  await visitor.getByLabel('Your name').fill('Vera Visitor');
  await visitor.getByLabel('Email').fill('vera@example.org');
  await visitor.getByTestId('support-panel').evaluate((el) => Promise.all(el.getAnimations().map((a) => a.finished)));
  await visitor.screenshot({ path: path.join(FRONTEND, 'docs', 'widget.png'), animations: 'disabled' });
} finally {
  await browser.close();
  await web.stop();
  await gateway.stop();
}
