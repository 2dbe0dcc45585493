// End to end: three Chromium pages join one room through a real Parley server and check that
// media flows through the SFU's UDP port. Run with `node --test` in this directory.
import assert from 'node:assert/strict';
import { clientStats, eventually, joinWithApp, sleep, suite, summary } from './harness.mjs';

// Starts this file's server and browser in `before`, stops them in `after`.
const env = suite('call');
const { step } = env;
const room = `call-${process.pid}`;

/** @type {Record<string, {page: import('playwright-core').Page, identity: string}>} */
const users = {};

/** @param {string} name @returns {Promise<void>} */
async function openAndJoin(name) {
  const page = await env.openPage(name);
  users[name] = { page, identity: '' };
  users[name].identity = await joinWithApp(page, name, room);
}

/** @param {string} viewer @param {string} other */
function tileOf(viewer, other) {
  return users[viewer].page.locator(`#tiles .tile[data-identity="${users[other].identity}"]`);
}

/** @param {string} name @param {'publisherPc' | 'subscriberPc'} pc */
function stats(name, pc) {
  return clientStats(users[name].page, pc);
}

/** The remote candidate of the pair ICE selected, per the transport stats. */
function selectedRemote(report) {
  const byId = new Map(report.map((s) => [s.id, s]));
  const transport = report.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  const pair = transport
    ? byId.get(transport.selectedCandidatePairId)
    : report.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
  return pair && byId.get(pair.remoteCandidateId);
}

step('A and B join the same room and see each other', async () => {
  await openAndJoin('Alice');
  await openAndJoin('Bob');
  await tileOf('Alice', 'Bob').waitFor({ timeout: 15_000 });
  await tileOf('Bob', 'Alice').waitFor({ timeout: 15_000 });
  assert.equal(await tileOf('Alice', 'Bob').locator('.name').textContent(), 'Bob');
  assert.equal(await tileOf('Bob', 'Alice').locator('.name').textContent(), 'Alice');
}, 45_000);

step('video frames and audio packets arrive on both sides', async () => {
  for (const name of ['Alice', 'Bob']) {
    const inbound = async () => (await stats(name, 'subscriberPc')).filter((s) => s.type === 'inbound-rtp');
    // Wait for media to start before sampling progress.
    await eventually(async () => {
      const rtp = await inbound();
      const ok = rtp.some((s) => s.kind === 'video' && s.framesDecoded > 0 && s.frameWidth > 0)
        && rtp.some((s) => s.kind === 'audio' && s.packetsReceived > 0);
      if (!ok) throw new Error(`inbound-rtp: ${JSON.stringify(rtp.map(summary))}`);
      return ok;
    }, { timeout: 15_000, what: `${name}: first decoded video frame and audio packet` });
    const first = await inbound();
    await sleep(1500);
    const second = await inbound();
    const before = new Map(first.map((s) => [s.id, s]));
    const video = second.find((s) => s.kind === 'video' && s.frameWidth > 0
      && s.framesDecoded > (before.get(s.id)?.framesDecoded ?? Infinity));
    assert.ok(video, `${name}: framesDecoded did not increase: ${JSON.stringify(second.filter((s) => s.kind === 'video'))}`);
    const audio = second.find((s) => s.kind === 'audio'
      && s.packetsReceived > (before.get(s.id)?.packetsReceived ?? Infinity));
    assert.ok(audio, `${name}: audio packetsReceived did not increase: ${JSON.stringify(second.filter((s) => s.kind === 'audio'))}`);
  }
});

step("each tile plays its participant's video and audio", async () => {
  for (const [viewer, other] of [['Alice', 'Bob'], ['Bob', 'Alice']]) {
    const tile = tileOf(viewer, other);
    // Proves trackSubscribed mapped the msid stream id to the right participant.
    await eventually(() => tile.locator('video').evaluate((v) => v.videoWidth > 0 && !v.paused),
      { timeout: 10_000, what: `${viewer}: ${other}'s tile video playing` });
    const audioTracks = await tile.locator('audio').evaluate((a) => a.srcObject?.getAudioTracks().length ?? 0);
    assert.equal(audioTracks, 1, `${viewer}: ${other}'s tile has no audio track`);
  }
});

step('both peer connections use the SFU UDP port on 127.0.0.1', async () => {
  for (const name of ['Alice', 'Bob']) {
    for (const pc of /** @type {const} */ (['publisherPc', 'subscriberPc'])) {
      const remote = await eventually(async () => selectedRemote(await stats(name, pc)),
        { timeout: 10_000, what: `${name} ${pc}: selected candidate pair` });
      assert.equal(remote.port, env.server?.udpPort, `${name} ${pc}: remote candidate ${JSON.stringify(remote)}`);
      assert.equal(remote.address ?? remote.ip, '127.0.0.1', `${name} ${pc}: remote candidate ${JSON.stringify(remote)}`);
    }
  }
});

step('a third participant sees and is seen by both', async () => {
  await openAndJoin('Carol');
  const count = (/** @type {string} */ name) => users[name].page.locator('#tiles .tile').count();
  for (const name of ['Alice', 'Bob', 'Carol']) {
    await eventually(async () => (await count(name)) === 2, { timeout: 15_000, what: `${name}: 2 remote tiles` });
  }
  await tileOf('Alice', 'Carol').waitFor({ timeout: 1000 });
  await tileOf('Bob', 'Carol').waitFor({ timeout: 1000 });
  await tileOf('Carol', 'Alice').waitFor({ timeout: 1000 });
  await tileOf('Carol', 'Bob').waitFor({ timeout: 1000 });
  // Carol gets two forwarded videos, not one stream twice.
  await eventually(async () => {
    const video = (await stats('Carol', 'subscriberPc'))
      .filter((s) => s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 0);
    return new Set(video.map((s) => s.ssrc)).size === 2;
  }, { timeout: 15_000, what: 'Carol: two decoding video streams' });
  for (const other of ['Alice', 'Bob']) {
    await eventually(() => tileOf('Carol', other).locator('video').evaluate((v) => v.videoWidth > 0),
      { timeout: 10_000, what: `Carol: ${other}'s tile video playing` });
  }
}, 45_000);

step("the others drop Carol's tile within 1.5 s of her leaving", async () => {
  const carol = users.Carol.page;
  // Timed from before the click, so the click's own latency counts against the budget.
  const left = Date.now();
  await carol.getByRole('button', { name: 'Leave' }).click();
  const budget = Math.max(1, 1500 - (Date.now() - left));
  await Promise.all([
    tileOf('Alice', 'Carol').waitFor({ state: 'detached', timeout: budget }),
    tileOf('Bob', 'Carol').waitFor({ state: 'detached', timeout: budget }),
  ]);
  const took = Date.now() - left;
  assert.ok(took <= 1500, `tiles removed after ${took} ms`);
  assert.equal(await carol.evaluate(() => document.body.dataset.state), 'left');
  assert.equal(await users.Alice.page.locator('#tiles .tile').count(), 1);
  assert.equal(await users.Bob.page.locator('#tiles .tile').count(), 1);
});

step("closing Bob's page drops his tile for Alice as well", async () => {
  // No `leave` this time: the server must notice the dropped WebSocket by itself.
  const closed = Date.now();
  await users.Bob.page.context().close();
  await tileOf('Alice', 'Bob').waitFor({ state: 'detached', timeout: 3000 });
  const took = Date.now() - closed;
  assert.ok(took <= 3000, `tile removed after ${took} ms`);
  assert.equal(await users.Alice.page.locator('#tiles .tile').count(), 0);
});
