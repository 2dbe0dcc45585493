// End to end: the call's controls and indicators between two Chromium pages through a real
// server: microphone mute, camera off/on (simulcast kept), pinning a tile (gets the top layer),
// connection quality per tile, and mute shown to the other side where the server supports it.
import assert from 'node:assert/strict';
import { clientStats, eventually, joinWithApp, probeRequest, screenshot, sleep, suite, summary } from './harness.mjs';

const env = suite('controls');
const { step } = env;
const room = `controls-${process.pid}`;

/** @type {import('playwright-core').Page} */
let alice;
/** @type {import('playwright-core').Page} */
let bob;
let aliceIdentity = '';

const aliceTile = () => bob.locator(`#tiles .tile[data-identity="${aliceIdentity}"]`);
const bobInbound = async (/** @type {'audio' | 'video'} */ kind) => {
  const rtp = (await clientStats(bob, 'subscriberPc')).filter((s) => s.type === 'inbound-rtp' && s.kind === kind);
  assert.equal(rtp.length, 1, `Bob should receive one ${kind} stream: ${JSON.stringify(rtp.map(summary))}`);
  return rtp[0];
};

/**
 * How much a counter of Bob's inbound stream grows over `ms`.
 * @param {'audio' | 'video'} kind @param {string} field @param {number} ms
 */
async function growth(kind, field, ms) {
  const a = (await bobInbound(kind))[field] ?? 0;
  await sleep(ms);
  return ((await bobInbound(kind))[field] ?? 0) - a;
}

step('Alice and Bob join; Bob decodes her video and hears her', async () => {
  alice = await env.openPage('Alice');
  aliceIdentity = await joinWithApp(alice, 'Alice', room);
  bob = await env.openPage('Bob');
  await joinWithApp(bob, 'Bob', room);
  await aliceTile().waitFor({ timeout: 15_000 });
  await eventually(async () => (await bobInbound('video')).framesDecoded > 0 && (await bobInbound('audio')).totalAudioEnergy > 0,
    { timeout: 15_000, what: "Bob decoding Alice's video and audio energy" });
}, 45_000);

step('muting the microphone silences Alice for Bob; unmuting brings her back', async () => {
  const mic = alice.getByRole('button', { name: 'Mute microphone' });
  const before = await growth('audio', 'totalAudioEnergy', 2500);
  assert.ok(before > 0, `Bob's audio energy did not grow before muting: ${before}`);
  await mic.click();
  assert.equal(await mic.getAttribute('aria-pressed'), 'true');
  assert.equal(await alice.locator('#self .badge.mic').isVisible(), true, 'own tile shows the muted badge');
  assert.equal(await alice.evaluate(() => /** @type {any} */ (window).parleyClient.publisherPc.getSenders()
    .find((/** @type {RTCRtpSender} */ s) => s.track?.kind === 'audio').track.enabled), false);
  await sleep(500); // audio in flight and the jitter buffer
  const muted = await growth('audio', 'totalAudioEnergy', 2500);
  // Packets keep coming (silence), so the stream and its quality stay up.
  assert.ok(muted < before / 20, `audio energy while muted ${muted} vs ${before} before`);
  assert.ok((await growth('audio', 'packetsReceived', 1000)) > 10, 'audio packets stopped while muted');
  await mic.click();
  assert.equal(await mic.getAttribute('aria-pressed'), 'false');
  await sleep(500);
  const after = await growth('audio', 'totalAudioEnergy', 2500);
  assert.ok(after > before / 4, `audio energy after unmuting ${after} vs ${before} before`);
}, 30_000);

step('turning the camera off stops Alice\'s video for Bob, keeps her simulcast layers, and back on resumes it', async () => {
  const camera = alice.getByRole('button', { name: 'Turn off camera' });
  await camera.click();
  assert.equal(await camera.getAttribute('aria-pressed'), 'true');
  const sender = () => alice.evaluate(() => {
    const s = /** @type {any} */ (window).parleyClient.publisherPc.getTransceivers()
      .find((/** @type {RTCRtpTransceiver} */ t) => t.receiver.track.kind === 'video').sender;
    return { track: s.track?.id ?? null, rids: s.getParameters().encodings.map((/** @type {any} */ e) => e.rid) };
  });
  // `replaceTrack(null)` settles after the click handler returns.
  await eventually(async () => (await sender()).track === null,
    { timeout: 2000, what: 'the camera track detaching from its sender' });
  const off = await sender();
  assert.equal(off.track, null, 'the camera track is detached from its sender');
  assert.deepEqual(off.rids, ['q', 'h', 'f']);
  await sleep(1000);
  const packets = await growth('video', 'packetsReceived', 1500);
  assert.equal(packets, 0, `Bob still receives video packets with the camera off: ${packets}`);
  await alice.locator('#self.video-off').waitFor({ timeout: 1000 });
  await camera.click();
  assert.equal(await camera.getAttribute('aria-pressed'), 'false');
  // replaceTrack settles in a later task: wait for it as for the detach above.
  await eventually(async () => (await sender()).track !== null,
    { timeout: 2000, what: 'the camera track back on its sender' });
  const on = await sender();
  assert.ok(on.track, 'the camera track is back on its sender');
  assert.deepEqual(on.rids, ['q', 'h', 'f']);
  const start = (await bobInbound('video')).framesDecoded;
  await eventually(async () => (await bobInbound('video')).framesDecoded > start + 10,
    { timeout: 10_000, what: "Bob decoding Alice's video again" });
}, 30_000);

step('both sides show a connection-quality level from getStats, excellent or good on loopback', async () => {
  // What a client measured for a participant (null: its own sid), for a failure to say why.
  /** @param {import('playwright-core').Page} page @param {string | null} identity */
  const sample = (page, identity) => page.evaluate((who) => {
    const c = /** @type {any} */ (window).parleyClient;
    const p = who === null ? c.you : [...c.participants.values()].find((x) => x.identity === who);
    return JSON.stringify(p ? c.connectionQuality(p.sid) ?? null : 'no such participant');
  }, identity);
  for (const [name, page, tile, identity] of /** @type {const} */ ([
    ["Bob's tile of Alice", bob, aliceTile(), aliceIdentity],
    ["Bob's own tile", bob, bob.locator('#self'), null],
    ["Alice's own tile", alice, alice.locator('#self'), null],
  ])) {
    try {
      await eventually(async () => ['excellent', 'good'].includes(await tile.getAttribute('data-quality') ?? ''),
        { timeout: 10_000, what: `a quality level on ${name}` });
    } catch (err) {
      const level = await tile.getAttribute('data-quality');
      throw new Error(`${/** @type {Error} */ (err).message}; it shows ${level}, measured ${await sample(page, identity)}`);
    }
    const label = await tile.locator('.quality').getAttribute('aria-label');
    assert.match(label ?? '', /^Connection (excellent|good)$/);
  }
  // The numbers behind the levels, once a sample covered flowing video.
  const measure = () => bob.evaluate((identity) => {
    const c = /** @type {any} */ (window).parleyClient;
    const a = [...c.participants.values()].find((p) => p.identity === identity);
    return { alice: c.connectionQuality(a.sid), self: c.connectionQuality(c.you.sid) };
  }, aliceIdentity);
  const measured = await eventually(async () => {
    const m = await measure();
    return m.alice?.metrics.framesPerSecond > 0 && m.self?.metrics.rtt !== null ? m : null;
  }, { timeout: 10_000, what: "a quality sample with Alice's frame rate and Bob's round trip" });
  console.log('Bob measured', JSON.stringify(measured));
  const { alice: a, self } = measured;
  // Loopback, but a loaded two-core machine answers ICE checks late; the point is that it is measured.
  assert.ok(a.metrics.rtt !== null && a.metrics.rtt < 400, JSON.stringify(a));
  assert.ok((a.metrics.packetLoss ?? 0) <= 0.02, JSON.stringify(a));
  assert.ok(a.metrics.framesPerSecond > 5, JSON.stringify(a));
  assert.ok(self.metrics.rtt < 400, JSON.stringify(self));
});

step('when Alice\'s media stops arriving, Bob\'s tile of her shows the connection lost, then recovers', async () => {
  // Detach both of Alice's tracks from their senders: to Bob this looks like her network died.
  await alice.evaluate(() => {
    const pc = /** @type {any} */ (window).parleyClient.publisherPc;
    /** @type {any} */ (window).detached = pc.getSenders().map((/** @type {RTCRtpSender} */ s) => [s, s.track]);
    return Promise.all(pc.getSenders().map((/** @type {RTCRtpSender} */ s) => s.replaceTrack(null)));
  });
  await eventually(async () => (await aliceTile().getAttribute('data-quality')) === 'lost',
    { timeout: 8000, what: "Bob's tile of Alice showing lost" });
  await screenshot(bob, 'controls-bob-alice-lost');
  await alice.evaluate(() => Promise.all(/** @type {any} */ (window).detached.map(([s, t]) => s.replaceTrack(t))));
  await eventually(async () => ['excellent', 'good'].includes(await aliceTile().getAttribute('data-quality') ?? ''),
    { timeout: 8000, what: "Bob's tile of Alice back to excellent or good" });
});

step("pinning Alice's tile makes it large and Bob receives her top layer; unpinning goes back down", async () => {
  const pin = bob.getByRole('button', { name: 'Pin Alice' });
  const layer = async () => {
    const v = await bobInbound('video');
    return `${v.frameWidth}x${v.frameHeight}`;
  };
  // Two tiles side by side: Alice's is about 620 px wide, so the 640x360 layer covers it.
  await eventually(async () => (await layer()) === '640x360', { timeout: 15_000, what: 'Bob decoding 640x360 before pinning' });
  await pin.click();
  assert.equal(await pin.getAttribute('aria-pressed'), 'true');
  const width = await aliceTile().evaluate((el) => el.getBoundingClientRect().width);
  assert.ok(width > 800, `pinned tile is only ${width} px wide`);
  try {
    await eventually(async () => (await layer()) === '1280x720', { timeout: 30_000, what: 'Bob decoding 1280x720 when pinned' });
  } catch (err) {
    const layers = (await clientStats(alice, 'publisherPc')).filter((s) => s.type === 'outbound-rtp' && s.kind === 'video')
      .map(({ rid, frameWidth, framesSent, qualityLimitationReason }) => ({ rid, frameWidth, framesSent, qualityLimitationReason }));
    err.message += `\nAlice's layers: ${JSON.stringify(layers)}`;
    throw err;
  }
  await screenshot(bob, 'controls-bob-pinned-alice');
  await pin.click();
  assert.equal(await pin.getAttribute('aria-pressed'), 'false');
  await eventually(async () => (await layer()) === '640x360', { timeout: 15_000, what: 'Bob back at 640x360 after unpinning' });
}, 60_000);

step("Alice's mute and camera-off show on Bob's tile of her, and to someone joining later (set_track_muted)", async (t) => {
  const reply = await probeRequest(alice, { type: 'set_track_muted', track: 'TR_none', muted: true });
  if (reply === 'unknown_type') {
    t.skip('this server does not know set_track_muted yet (unknown_type)');
    return;
  }
  // set_track_muted names the track by sid, which Alice learns from track_published.
  await eventually(() => alice.evaluate(() => /** @type {any} */ (window).parleyClient.you.tracks
    .some((/** @type {any} */ t) => t.source === 'microphone')),
  { timeout: 10_000, what: "track_published for Alice's own microphone (the server must announce a publisher's tracks to the publisher too)" });
  const mic = alice.getByRole('button', { name: 'Mute microphone' });
  const camera = alice.getByRole('button', { name: 'Turn off camera' });
  await mic.click();
  await eventually(() => aliceTile().locator('.badge.mic').isVisible(), { timeout: 5000, what: "muted badge on Bob's tile of Alice" });
  assert.equal(await aliceTile().getAttribute('data-mic-muted'), 'true');
  assert.equal(await aliceTile().locator('.badge.mic').getAttribute('aria-label'), 'Microphone muted');
  await camera.click();
  await aliceTile().and(bob.locator('.video-off')).waitFor({ timeout: 5000 });
  await screenshot(bob, 'controls-bob-sees-alice-muted');
  // Carol joins now: the room snapshot carries the muted state.
  const carol = await env.openPage('Carol');
  await joinWithApp(carol, 'Carol', room);
  const carolsAlice = carol.locator(`#tiles .tile[data-identity="${aliceIdentity}"]`);
  await carolsAlice.waitFor({ timeout: 15_000 });
  await eventually(() => carolsAlice.locator('.badge.mic').isVisible(), { timeout: 5000, what: "muted badge on Carol's tile of Alice" });
  assert.equal(await carolsAlice.evaluate((el) => el.classList.contains('video-off')), true);
  await mic.click();
  await camera.click();
  for (const tile of [aliceTile(), carolsAlice]) {
    await eventually(async () => !(await tile.locator('.badge.mic').isVisible()), { timeout: 5000, what: 'muted badge gone' });
    await eventually(async () => !(await tile.evaluate((el) => el.classList.contains('video-off'))), { timeout: 5000, what: 'camera back' });
  }
}, 45_000);
