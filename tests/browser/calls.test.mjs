// End to end: calls between two signed-in people (tokens minted with `parley token`, as an app's
// backend would), through the real server. Ana starts a direct conversation with Ben and video
// calls him: Ben's page shows the incoming call (focus on Accept, announced as an alert dialog),
// he accepts, and both are in the call room seeing each other's video; hanging up leaves a
// "Call, …" notice in their conversation. Then the decline and cancel paths, each a notice too.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { eventually, screenshot, seriousA11yViolations, serverBin, suite } from './harness.mjs';

const secret = `calls-test-${process.pid}-secret-0123456789abcdef0123`;
const env = suite('calls', { env: { PARLEY_JWT_SECRET: secret } });
const { step } = env;

/** A token as an app's backend mints it. @param {string} identity @param {string} name */
const token = (identity, name) => execFileSync(serverBin,
  ['token', '--room', `home-${identity}`, '--identity', identity, '--name', name],
  { env: { ...process.env, PARLEY_JWT_SECRET: secret }, encoding: 'utf8' }).trim();

/** @type {import('playwright-core').Page} */
let ana;
/** @type {import('playwright-core').Page} */
let ben;
const suffix = String(process.pid);
const anaId = `ana-${suffix}`;
const benId = `ben-${suffix}`;

/** @param {import('playwright-core').Page} page */
const state = (page) => page.evaluate(() => document.body.dataset.state);
/** @param {import('playwright-core').Page} page @param {string} identity */
const remoteVideo = (page, identity) => page.locator(`#tiles .tile[data-identity="${identity}"] video`);

step('Ana and Ben open the app signed in; Ana starts a conversation with Ben, who shows as online', async () => {
  ana = await env.openPage('Ana', `${env.server?.baseUrl}#token=${token(anaId, 'Ana')}`);
  ben = await env.openPage('Ben', `${env.server?.baseUrl}#token=${token(benId, 'Ben')}`);
  for (const [page, name] of [[ana, 'Ana'], [ben, 'Ben']]) {
    await eventually(async () => (await page.locator('#home-who').textContent()) === `Signed in as ${name}`, { timeout: 10_000, what: `${name} signed in` });
    assert.equal(await page.locator('#lobby').isHidden(), true, 'a signed-in person gets no guest lobby');
  }
  await ana.getByLabel('Start a conversation with').fill(benId);
  await ana.getByRole('button', { name: 'Start' }).click();
  const row = ana.locator(`#people li[data-identity="${benId}"]`);
  await row.waitFor({ timeout: 5000 });
  await eventually(async () => (await row.getAttribute('data-presence')) === 'online', { timeout: 5000, what: 'Ben online' });
  // Ben is told he was added, and lists the conversation too.
  await ben.locator('#people li').first().waitFor({ timeout: 5000 });
  assert.deepEqual(await seriousA11yViolations(ana, '#home'), []);
  await screenshot(ana, 'calls-ana-home');
}, 45_000);

step('Ana video calls Ben: "Calling…" for her, the incoming call for him with focus on Accept', async () => {
  await ana.getByRole('button', { name: `Video call ${benId}` }).click();
  await ana.getByRole('dialog', { name: `Calling ${benId}…` }).waitFor({ timeout: 5000 });
  const incoming = ben.getByRole('alertdialog', { name: `${anaId} is calling…` });
  await incoming.waitFor({ timeout: 5000 });
  assert.equal(await ben.locator('#incoming-media').textContent(), 'Video call');
  assert.equal(await ben.evaluate(() => document.activeElement?.id), 'accept');
  // Focus stays in the dialog.
  await ben.keyboard.press('Tab');
  assert.equal(await ben.evaluate(() => document.activeElement?.id), 'decline');
  await ben.keyboard.press('Tab');
  assert.equal(await ben.evaluate(() => document.activeElement?.id), 'accept');
  assert.deepEqual(await seriousA11yViolations(ben, '#incoming'), []);
  await screenshot(ben, 'calls-ben-incoming');
});

step('Ben accepts: both join the call room and see each other\'s video', async () => {
  await ben.getByRole('button', { name: 'Accept' }).click();
  for (const page of [ana, ben]) await eventually(async () => (await state(page)) === 'joined', { timeout: 20_000, what: 'in the call' });
  assert.equal(await ana.locator('#calling').isHidden(), true);
  const rooms = await Promise.all([ana, ben].map((p) => p.evaluate(() => /** @type {any} */ (window).parleyClient.room)));
  assert.equal(rooms[0], rooms[1], 'both in the same room');
  for (const [page, other] of [[ana, benId], [ben, anaId]]) {
    await eventually(() => remoteVideo(page, other).evaluate((v) => /** @type {HTMLVideoElement} */ (v).videoWidth > 0),
      { timeout: 20_000, what: `video of ${other}` });
  }
  await screenshot(ana, 'calls-ana-in-call');
}, 60_000);

step('hanging up brings both home; their conversation shows the call with its length', async () => {
  await ana.getByRole('button', { name: 'Leave' }).click();
  await ben.getByRole('button', { name: 'Leave' }).click();
  for (const page of [ana, ben]) await page.locator('#home').waitFor({ timeout: 5000 });
  await ana.getByRole('button', { name: `Chat with ${benId}` }).click();
  await eventually(async () => (await ana.locator('#chat-log li.notice').allTextContents()).some((t) => /^Call, /.test(t)),
    { timeout: 10_000, what: 'a "Call, …" notice' });
  assert.ok((await ana.locator('#chat-log li.notice').allTextContents()).includes('Call started'));
  await ana.getByRole('button', { name: 'Close chat' }).click();
}, 30_000);

step('declining: Ana\'s "Calling…" ends with "declined", and the conversation says so', async () => {
  await ana.getByRole('button', { name: `Voice call ${benId}` }).click();
  const incoming = ben.getByRole('alertdialog', { name: `${anaId} is calling…` });
  await incoming.waitFor({ timeout: 5000 });
  assert.equal(await ben.locator('#incoming-media').textContent(), 'Voice call');
  await ben.getByRole('button', { name: 'Decline' }).click();
  await ana.locator('#calling').waitFor({ state: 'hidden', timeout: 5000 });
  assert.equal(await ana.locator('#home-notice').textContent(), `${benId} declined the call`);
  assert.equal(await state(ana), 'left', 'nobody joined a call');
  await ana.getByRole('button', { name: `Chat with ${benId}` }).click();
  await eventually(async () => (await ana.locator('#chat-log li.notice').allTextContents()).includes('Call declined'),
    { timeout: 5000, what: 'a "Call declined" notice' });
  await ana.getByRole('button', { name: 'Close chat' }).click();
}, 30_000);

step('cancelling: Ben\'s incoming call goes away, and the conversation says so', async () => {
  await ana.getByRole('button', { name: `Video call ${benId}` }).click();
  await ben.getByRole('alertdialog').waitFor({ timeout: 5000 });
  await ana.getByRole('button', { name: 'Cancel' }).click();
  await ben.locator('#incoming').waitFor({ state: 'hidden', timeout: 5000 });
  assert.equal(await ben.locator('#home-notice').textContent(), `${anaId} cancelled the call`);
  await ben.getByRole('button', { name: `Chat with ${anaId}` }).click();
  await eventually(async () => (await ben.locator('#chat-log li.notice').allTextContents()).includes('Call cancelled'),
    { timeout: 5000, what: 'a "Call cancelled" notice' });
  await screenshot(ben, 'calls-ben-history');
}, 30_000);
