// End to end: the chat side panel of a call, through the real server. Alice and Bob are in a
// call; Alice types (Bob sees "Alice is typing…", then not), sends (Bob sees it with her name,
// Alice sees sent → delivered → read as Bob opens his panel), both see a reaction, Bob sees an
// image attachment inline, edits and deletes reach Bob, a page that joins later sees nothing
// from before its visit, and messages sent while Bob is offline (CDP) reach him exactly once
// after his page reconnects (a reconnect continues his visit).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { eventually, joinWithApp, screenshot, seriousA11yViolations, serverBin, sleep, suite } from './harness.mjs';

const secret = `chat-test-${process.pid}-secret-0123456789abcdef01234`;
const env = suite('chat', { env: { PARLEY_JWT_SECRET: secret } });
const { step } = env;
const room = `chat-${process.pid}`;

/**
 * The app opened with an invitation to the room, minted by `parley token` as an app's backend
 * would (guest tokens call without chat).
 * @param {string} name @param {import('playwright-core').BrowserContextOptions} [options]
 */
const invited = (name, options) => {
  const token = execFileSync(serverBin,
    ['token', '--room', room, '--identity', `${name.toLowerCase()}-${process.pid}`, '--name', name],
    { env: { ...process.env, PARLEY_JWT_SECRET: secret }, encoding: 'utf8' }).trim();
  return env.openPage(name, `${env.server?.baseUrl}?room=${room}#invite=${token}`, options);
};

/** @type {import('playwright-core').Page} */
let alice;
/** @type {import('playwright-core').Page} */
let bob;

// A 2x2 PNG (red, green, blue, white).
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==',
  'base64',
);

/** @param {import('playwright-core').Page} page @param {string} text */
const message = (page, text) => page.locator('#chat-log li.msg').filter({ has: page.locator('.text', { hasText: text }) });

/** Count the SDK's `message` events by id, to prove each message reaches the app once. @param {import('playwright-core').Page} page */
const countMessages = (page) => page.evaluate(() => {
  const w = /** @type {any} */ (window);
  w.messageEvents = {};
  w.parleyClient.on('message', (/** @type {any} */ m) => { w.messageEvents[m.id] = (w.messageEvents[m.id] ?? 0) + 1; });
});

step('Alice and Bob are in a call; both have the room conversation and a Chat button', async () => {
  alice = await invited('Alice');
  await joinWithApp(alice, 'Alice', room);
  bob = await invited('Bob');
  await joinWithApp(bob, 'Bob', room);
  await alice.locator('#tiles .tile').waitFor({ timeout: 15_000 });
  for (const page of [alice, bob]) {
    const conversation = await page.evaluate(() => /** @type {any} */ (window).parleyClient.conversation);
    assert.match(conversation ?? '', /.+/, 'joined carries the room conversation');
    await eventually(() => page.getByRole('button', { name: 'Chat', exact: true }).isEnabled(), { timeout: 5000, what: 'Chat button enabled' });
  }
  await countMessages(bob);
}, 45_000);

step('the panel opens from the keyboard, focuses the message box and has no serious a11y violations', async () => {
  const toggle = alice.getByRole('button', { name: 'Chat', exact: true });
  await toggle.focus();
  await alice.keyboard.press('Enter');
  assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
  await alice.getByRole('complementary', { name: 'Chat' }).waitFor();
  assert.equal(await alice.evaluate(() => document.activeElement?.id), 'chat-input');
  assert.deepEqual(await seriousA11yViolations(alice, '#chat-panel'), []);
  // Escape closes it and gives focus back to the toggle.
  await alice.keyboard.press('Escape');
  assert.equal(await alice.locator('#chat-panel').isHidden(), true);
  assert.equal(await alice.evaluate(() => document.activeElement?.id), 'chat-toggle');
  await alice.keyboard.press('Enter');
});

step('Bob sees "Alice is typing…" while she types, and it goes away when she sends', async () => {
  await alice.getByLabel('Message', { exact: true }).pressSequentially('Hello Bob', { delay: 30 });
  await eventually(async () => (await bob.locator('#chat-typing').textContent()) === 'Alice is typing…',
    { timeout: 5000, what: "Bob's typing indicator" });
  await alice.getByLabel('Message', { exact: true }).press('Enter');
  await eventually(async () => (await bob.locator('#chat-typing').textContent()) === '',
    { timeout: 5000, what: "Bob's typing indicator gone after the send" });
});

step('Bob gets the message with her name (unread badge while his panel is closed); Alice sees delivered, then read', async () => {
  await message(bob, 'Hello Bob').waitFor({ state: 'attached', timeout: 5000 });
  assert.equal(await message(bob, 'Hello Bob').locator('.sender').textContent(), 'Alice');
  assert.equal(await bob.locator('#chat-toggle .unread').textContent(), '1');
  const mine = message(alice, 'Hello Bob');
  assert.equal(await mine.locator('.sender').textContent(), 'You');
  // Bob's device acknowledges delivery by itself; reading waits for his eyes.
  await eventually(async () => (await mine.getAttribute('data-status')) === 'delivered', { timeout: 5000, what: 'delivered on Alice\'s side' });
  assert.equal(await bob.locator('#chat-toggle').getAttribute('aria-label'), 'Chat, 1 unread');
  await bob.getByRole('button', { name: 'Chat, 1 unread' }).click();
  await eventually(async () => (await mine.getAttribute('data-status')) === 'read', { timeout: 5000, what: 'read on Alice\'s side' });
  assert.equal(await mine.locator('.status').textContent(), 'read');
  assert.equal(await bob.locator('#chat-toggle .unread').isHidden(), true);
});

step('a reaction shows on both sides with its count', async () => {
  await message(bob, 'Hello Bob').getByRole('button', { name: 'React 👍' }).click();
  for (const page of [alice, bob]) {
    await eventually(async () => (await message(page, 'Hello Bob').locator('button[data-emoji="👍"]').textContent()) === '👍 1',
      { timeout: 5000, what: 'the 👍 count' });
  }
  assert.equal(await message(bob, 'Hello Bob').locator('button[data-emoji="👍"]').getAttribute('aria-pressed'), 'true');
  assert.equal(await message(alice, 'Hello Bob').locator('button[data-emoji="👍"]').getAttribute('aria-pressed'), 'false');
});

step('an image attachment shows inline on Bob\'s side (downloaded with the bearer token)', async () => {
  await alice.getByLabel('Message', { exact: true }).fill('a picture');
  await alice.locator('#chat-file').setInputFiles({ name: 'pixels.png', mimeType: 'image/png', buffer: PNG });
  const img = message(bob, 'a picture').locator('img[alt="pixels.png"]');
  await img.waitFor({ timeout: 10_000 });
  await eventually(() => img.evaluate((el) => /** @type {HTMLImageElement} */ (el).naturalWidth === 2), { timeout: 5000, what: 'the image decoded' });
  assert.match(await img.getAttribute('src') ?? '', /^blob:/);
  await screenshot(bob, 'chat-bob-panel');
});

step('Alice edits and deletes her own message; Bob sees both', async () => {
  await alice.getByLabel('Message', { exact: true }).fill('typo msg');
  await alice.getByLabel('Message', { exact: true }).press('Enter');
  await message(bob, 'typo msg').waitFor({ timeout: 5000 });
  await message(alice, 'typo msg').getByRole('button', { name: 'Edit message' }).click();
  await alice.getByLabel('Message', { exact: true }).fill('fixed msg');
  await alice.getByLabel('Message', { exact: true }).press('Enter');
  await message(bob, 'fixed msg').waitFor({ timeout: 5000 });
  assert.match(await message(bob, 'fixed msg').locator('.meta').textContent() ?? '', /\(edited\)/);
  await message(alice, 'fixed msg').getByRole('button', { name: 'Delete message' }).click();
  await eventually(async () => (await message(bob, 'fixed msg').count()) === 0 && (await message(bob, 'Message deleted').count()) === 1,
    { timeout: 5000, what: 'the deletion on Bob\'s side' });
});

step('messages sent while Bob is offline appear exactly once, in order, after he reconnects', async () => {
  const cdp = await bob.context().newCDPSession(bob);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: true, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  const texts = ['while away 1', 'while away 2', 'while away 3'];
  for (const text of texts) {
    await alice.getByLabel('Message', { exact: true }).fill(text);
    await alice.getByLabel('Message', { exact: true }).press('Enter');
    await message(alice, text).and(alice.locator('[data-status="sent"]')).waitFor({ timeout: 5000 });
  }
  await bob.locator('#banner').waitFor({ state: 'visible', timeout: 15_000 });
  assert.equal(await message(bob, 'while away').count(), 0, 'Bob got messages while offline?');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await bob.locator('#banner').waitFor({ state: 'hidden', timeout: 20_000 });
  await eventually(async () => (await message(bob, 'while away').count()) === 3, { timeout: 10_000, what: 'the three messages on Bob\'s side' });
  await sleep(1500); // a late duplicate would show up by now
  const shown = await bob.locator('#chat-log li.msg .text').allTextContents();
  assert.deepEqual(shown.filter((t) => t.startsWith('while away')), texts, 'once each, in order');
  const events = await bob.evaluate(() => /** @type {any} */ (window).messageEvents);
  const repeated = Object.entries(events).filter(([, n]) => n !== 1);
  assert.deepEqual(repeated, [], 'the SDK announced a message more than once');
  assert.ok(Object.keys(events).length >= 6, `Bob's SDK announced ${Object.keys(events).length} messages`);
  // Bob's panel is open, so what arrived is read: Alice's ticks say so.
  await eventually(async () => (await message(alice, 'while away 3').getAttribute('data-status')) === 'read',
    { timeout: 5000, what: 'read after the reconnect' });
  await screenshot(bob, 'chat-bob-after-reconnect');
}, 60_000);

step('a page that joins later sees nothing said before its visit, and what is said after; on a phone the panel overlays the call', async () => {
  // A room's conversation belongs to each visit: Carol, joining now, must not read the
  // earlier messages (the telehealth "next patient" case), only what is said from now on.
  await alice.evaluate(async () => {
    const c = /** @type {any} */ (window).parleyClient;
    for (let i = 1; i <= 3; i++) await c.chat.send(c.conversation, `filler ${i}`);
  });
  const carol = await invited('Carol', { viewport: { width: 390, height: 844 } });
  await joinWithApp(carol, 'Carol', room);
  await carol.getByRole('button', { name: 'Chat', exact: true }).click();
  const box = await carol.locator('#chat-panel').boundingBox();
  assert.ok(box && box.x === 0 && box.width === 390 && box.height >= 800, `panel on a phone: ${JSON.stringify(box)}`);
  assert.deepEqual(await seriousA11yViolations(carol, '#chat-panel'), []);
  await alice.getByLabel('Message', { exact: true }).fill('welcome Carol');
  await alice.getByLabel('Message', { exact: true }).press('Enter');
  await message(carol, 'welcome Carol').waitFor({ timeout: 10_000 });
  await carol.locator('#chat-log').evaluate((el) => { el.scrollTop = 0; });
  await sleep(1500); // an older page, were there one, would have loaded by now
  for (const earlier of ['filler 3', 'Hello Bob', 'while away 1']) {
    assert.equal(await message(carol, earlier).count(), 0, `Carol sees "${earlier}" from before her visit`);
  }
  const seqs = await carol.locator('#chat-log li[data-seq]').evaluateAll((els) => els.map((el) => Number(/** @type {HTMLElement} */ (el).dataset.seq)));
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in seq order');
  assert.equal(new Set(seqs).size, seqs.length, 'no message twice');
  await screenshot(carol, 'chat-carol-history');
}, 45_000);
