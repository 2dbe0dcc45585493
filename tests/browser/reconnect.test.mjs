// End to end: the call survives a dropped connection. The server process is stopped and started
// again on the same ports (its room state is gone), and later one page's network goes offline
// through CDP. Each time the app shows "Reconnecting…", the SDK reconnects with backoff, joins
// again, republishes and resubscribes, and media flows again.
import assert from 'node:assert/strict';
import { clientStats, eventually, joinWithApp, screenshot, sleep, suite, summary } from './harness.mjs';

// A fixed secret, as production servers have: tokens survive the restart, so identities do too.
const env = suite('reconnect', { env: { PARLEY_JWT_SECRET: `reconnect-test-${process.pid}-0123456789abcdef` } });
const { step } = env;
const room = `reconnect-${process.pid}`;

/** @type {Record<string, {page: import('playwright-core').Page, identity: string}>} */
const users = {};

/** @param {string} viewer @param {string} other */
const tileOf = (viewer, other) => users[viewer].page.locator(`#tiles .tile[data-identity="${users[other].identity}"]`);

/**
 * Wait until `viewer` decodes `other`'s video and the frame count keeps rising.
 * @param {string} viewer @param {string} other
 */
async function expectVideo(viewer, other) {
  const page = users[viewer].page;
  const frames = async () => {
    const rtp = (await clientStats(page, 'subscriberPc')).filter((s) => s.type === 'inbound-rtp' && s.kind === 'video');
    if (rtp.length !== 1) throw new Error(`${viewer} receives ${rtp.length} video streams: ${JSON.stringify(rtp.map(summary))}`);
    return rtp[0].framesDecoded ?? 0;
  };
  const first = await eventually(async () => (await frames()) > 0, { timeout: 20_000, what: `${viewer} decoding ${other}'s video` })
    .then(frames);
  await sleep(1500);
  const second = await frames();
  assert.ok(second > first + 5, `${viewer}: framesDecoded ${first} → ${second}`);
  await eventually(() => tileOf(viewer, other).locator('video').evaluate((v) => v.videoWidth > 0 && !v.paused),
    { timeout: 5000, what: `${viewer}: ${other}'s tile playing` });
}

/** @param {string} name */
const banner = (name) => users[name].page.getByRole('alert');

step('Alice and Bob are in a call', async () => {
  for (const name of ['Alice', 'Bob']) {
    const page = await env.openPage(name);
    users[name] = { page, identity: await joinWithApp(page, name, room) };
  }
  await expectVideo('Bob', 'Alice');
  await expectVideo('Alice', 'Bob');
}, 45_000);

step('while the server is down both pages say they are reconnecting', async () => {
  assert.ok(env.server);
  const stopped = Date.now();
  await env.server.stop();
  for (const name of ['Alice', 'Bob']) {
    await banner(name).waitFor({ state: 'visible', timeout: 3000 });
    assert.equal(await banner(name).textContent(), 'Reconnecting…');
    // Their own connection indicator says so too.
    assert.equal(await users[name].page.locator('#self').getAttribute('data-quality'), 'lost');
  }
  console.log(`banner shown within ${Date.now() - stopped} ms of the server stopping`);
  await screenshot(users.Alice.page, 'reconnect-alice-reconnecting');
  // The others' tiles went with the old session.
  assert.equal(await users.Alice.page.locator('#tiles .tile').count(), 0);
  await sleep(2000); // a few failed attempts while nothing listens
  assert.equal(await banner('Alice').isVisible(), true);
});

step('once the server is back, both rejoin by themselves and media flows again', async () => {
  assert.ok(env.server);
  const started = Date.now();
  await env.server.restart();
  for (const name of ['Alice', 'Bob']) {
    await banner(name).waitFor({ state: 'hidden', timeout: 20_000 });
    assert.match(await users[name].page.getByRole('status').textContent() ?? '', /^Reconnected/);
    assert.equal(await users[name].page.evaluate(() => document.body.dataset.state), 'joined');
  }
  console.log(`both reconnected ${Date.now() - started} ms after the server was started again`);
  await tileOf('Alice', 'Bob').waitFor({ timeout: 15_000 });
  await tileOf('Bob', 'Alice').waitFor({ timeout: 15_000 });
  await expectVideo('Bob', 'Alice');
  await expectVideo('Alice', 'Bob');
  // Republished with the same simulcast layers.
  const rids = await users.Alice.page.evaluate(() => /** @type {any} */ (window).parleyClient.publisherPc.getSenders()
    .find((/** @type {RTCRtpSender} */ s) => s.track?.kind === 'video')?.getParameters().encodings.map((/** @type {any} */ e) => e.rid));
  assert.deepEqual(rids, ['q', 'h', 'f']);
  for (const name of ['Alice', 'Bob']) assert.equal(await users[name].page.locator('#tiles .tile').count(), 1);
  await screenshot(users.Bob.page, 'reconnect-bob-after-restart');
}, 60_000);

step("Alice's network going offline (CDP) shows reconnecting; back online she rejoins and media flows", async () => {
  const page = users.Alice.page;
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const offline = Date.now();
  await cdp.send('Network.emulateNetworkConditions', { offline: true, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  // No FIN reaches the page, so it is the SDK's keepalive that notices (4 s ping, 4 s timeout).
  await banner('Alice').waitFor({ state: 'visible', timeout: 15_000 });
  console.log(`offline noticed after ${Date.now() - offline} ms`);
  await screenshot(page, 'reconnect-alice-offline');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await banner('Alice').waitFor({ state: 'hidden', timeout: 20_000 });
  await tileOf('Bob', 'Alice').waitFor({ timeout: 15_000 });
  await tileOf('Alice', 'Bob').waitFor({ timeout: 15_000 });
  await expectVideo('Bob', 'Alice');
  await expectVideo('Alice', 'Bob');
  // Bob saw Alice leave with her old session and come back with a new one: one tile, not two.
  assert.equal(await users.Bob.page.locator('#tiles .tile').count(), 1);
}, 60_000);
