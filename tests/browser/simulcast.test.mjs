// End to end: Alice publishes her camera as three simulcast layers through the app; Bob's app
// tells the server how big Alice's tile is, and the server forwards the layer that fits: the
// smallest for a small tile, the full one for a large tile, nothing while the tile is hidden.
// Run with `node --test` in this directory.
import assert from 'node:assert/strict';
import { clientStats, eventually, joinWithApp, setTestStyle, sleep, suite, summary } from './harness.mjs';

// Starts this file's server and browser in `before`, stops them in `after`.
const env = suite('simulcast');
const { step } = env;
const room = `simulcast-${process.pid}`;

/** @type {import('playwright-core').Page} */
let alice;
/** @type {import('playwright-core').Page} */
let bob;
let aliceIdentity = '';
/** Bob's style sheet that currently sizes Alice's tile, if any. */

const tileSelector = () => `#tiles .tile[data-identity="${aliceIdentity}"]`;
const bobInbound = async () => (await clientStats(bob, 'subscriberPc')).filter((s) => s.type === 'inbound-rtp');
const bobVideo = async () => {
  const video = (await bobInbound()).filter((s) => s.kind === 'video');
  assert.equal(video.length, 1, `Bob should receive one video stream: ${JSON.stringify(video.map(summary))}`);
  return video[0];
};

/**
 * Alice's encoder per simulcast layer, and the bandwidth her browser thinks it has: what to look
 * at when Bob never gets a layer.
 */
async function aliceLayers() {
  const report = await clientStats(alice, 'publisherPc');
  const transport = report.find((s) => s.type === 'transport');
  const pair = report.find((s) => s.id === transport?.selectedCandidatePairId);
  const layers = report.filter((s) => s.type === 'outbound-rtp' && s.kind === 'video')
    .sort((a, b) => String(a.rid).localeCompare(String(b.rid)))
    .map(({ rid, frameWidth, frameHeight, framesSent, targetBitrate, qualityLimitationReason }) => ({
      rid, frameWidth, frameHeight, framesSent, targetBitrate, qualityLimitationReason,
    }));
  return { availableOutgoingBitrate: pair?.availableOutgoingBitrate, layers };
}

/**
 * Bob's side of his subscriber connection. If his video stops altogether, compare this with the
 * server's "ice selected candidate pair" (server log at debug): a pair Chromium switched away
 * from is declared Disconnected by the server after ~5 s.
 */
function bobPath() {
  return bob.evaluate(async () => {
    const report = [...(await window.parleyClient.subscriberPc.getStats()).values()];
    const byId = new Map(report.map((s) => [s.id, s]));
    const transport = report.find((s) => s.type === 'transport');
    const local = byId.get(byId.get(transport?.selectedCandidatePairId)?.localCandidateId);
    return {
      iceState: transport?.iceState,
      local: local && `${local.address}:${local.port}`,
      selectedCandidatePairChanges: transport?.selectedCandidatePairChanges,
    };
  });
}

/** Replace Bob's sizing rule for Alice's tile (`null`: back to the app's own layout). @param {string | null} css */
async function styleTile(css) {
  await setTestStyle(bob, css && `${tileSelector()} ${css}`);
}

/**
 * Wait until Bob decodes Alice's video at `width`x`height` and frames keep coming.
 * @param {number} width @param {number} height @param {number} timeout
 */
async function expectLayer(width, height, timeout) {
  try {
    await eventually(async () => {
      const v = await bobVideo();
      if (v.frameWidth !== width || v.frameHeight !== height) {
        throw new Error(`Bob decodes ${v.frameWidth}x${v.frameHeight}: ${JSON.stringify(summary(v))}`);
      }
      return true;
    }, { timeout, what: `Bob decoding Alice's video at ${width}x${height}` });
  } catch (err) {
    err.message += `\nAlice: ${JSON.stringify(await aliceLayers())}\nBob: ${JSON.stringify(await bobPath())}`;
    throw err;
  }
  const first = await bobVideo();
  await sleep(1000);
  const second = await bobVideo();
  assert.ok(second.framesDecoded > first.framesDecoded && second.frameWidth === width,
    `Bob stopped decoding at ${width}x${height}: ${JSON.stringify(summary(first))} then ${JSON.stringify(summary(second))}`);
}

step('Alice publishes simulcast, Bob joins and decodes her video', async () => {
  alice = await env.openPage('Alice');
  aliceIdentity = await joinWithApp(alice, 'Alice', room);
  bob = await env.openPage('Bob');
  await joinWithApp(bob, 'Bob', room);
  // The app asked for simulcast: three encodings on Alice's camera sender.
  const rids = await alice.evaluate(() => window.parleyClient.publisherPc.getSenders()
    .find((s) => s.track?.kind === 'video')?.getParameters().encodings.map((e) => e.rid));
  assert.deepEqual(rids, ['q', 'h', 'f']);
  await bob.locator(tileSelector()).waitFor({ timeout: 15_000 });
  await eventually(async () => (await bobVideo()).framesDecoded > 0,
    { timeout: 15_000, what: "Bob: first decoded frame of Alice's video" });
}, 30_000);

step("a small tile gets Alice's 320x180 layer", async () => {
  const dpr = await bob.evaluate(() => devicePixelRatio);
  // 200 device pixels wide: the smallest layer covers it.
  await styleTile(`{ width: ${200 / dpr}px; }`);
  await expectLayer(320, 180, 10_000);
});

step("a 1280x720 tile gets Alice's full 1280x720 layer", async () => {
  const dpr = await bob.evaluate(() => devicePixelRatio);
  await styleTile(`{ width: ${1280 / dpr}px; }`);
  // Alice's browser sends `f` once the server wants it again (dynacast turned it off while the
  // tile was small) and her bandwidth estimate allows it: usually at once on loopback, but when
  // Chromium's first probe fails its estimate grows ~8 % a second from ~300 kbit/s and `f`
  // starts ~20 s late (over 30 s on a loaded CI machine). Wait for that first, so the 15 s below
  // measure the server's switch.
  const framesSent = async () => (await aliceLayers()).layers
    .find((l) => l.rid === 'f' && l.frameWidth === 1280)?.framesSent ?? 0;
  try {
    await eventually(async () => {
      const first = await framesSent();
      await sleep(500);
      return first > 0 && (await framesSent()) > first;
    }, { timeout: 60_000, interval: 500, what: "Alice's browser sending layer f at 1280x720" });
  } catch (err) {
    err.message += `\nAlice: ${JSON.stringify(await aliceLayers())}`;
    throw err;
  }
  await expectLayer(1280, 720, 15_000);
}, 55_000);

step('shrinking the tile again switches back down to 320x180', async () => {
  const dpr = await bob.evaluate(() => devicePixelRatio);
  await styleTile(`{ width: ${200 / dpr}px; }`);
  await expectLayer(320, 180, 10_000);
});

step("a hidden tile stops Alice's video for Bob but not her audio", async () => {
  await styleTile('video { display: none; }');
  const packets = async () => {
    const rtp = await bobInbound();
    return {
      video: rtp.find((s) => s.kind === 'video')?.packetsReceived ?? 0,
      audio: rtp.find((s) => s.kind === 'audio')?.packetsReceived ?? 0,
    };
  };
  // Debounce, request and the packets in flight take a moment; from 3 s after hiding at the
  // latest, no video may arrive for 1.5 s while audio keeps coming.
  const hidden = Date.now();
  const samples = [await packets()];
  for (;;) {
    await sleep(1500);
    samples.push(await packets());
    const [a, b] = samples.slice(-2);
    if (b.video === a.video) {
      assert.ok(b.audio > a.audio, `audio stopped too: ${JSON.stringify(samples)}`);
      break;
    }
    // The next window would start too late (500 ms for the stats round trips).
    assert.ok(Date.now() - hidden <= 3500,
      `video packets still arriving ${Date.now() - hidden} ms after hiding: ${JSON.stringify(samples)}`);
  }
});

step('showing the tile again resumes the video', async () => {
  await styleTile(null);
  const before = await bobVideo();
  await eventually(async () => {
    const now = await bobVideo();
    if (now.framesDecoded <= before.framesDecoded) throw new Error(JSON.stringify(summary(now)));
    return true;
  }, { timeout: 10_000, what: "Bob decoding Alice's video again" });
  await eventually(() => bob.locator(`${tileSelector()} video`).evaluate((v) => v.videoWidth > 0 && !v.paused),
    { timeout: 5000, what: "Alice's tile video playing for Bob" });
});

// A new offer on Alice's camera connection (here: she stops her microphone, which renegotiates
// its m-line to inactive; an ICE restart is another new offer) makes webrtc-rs bind her layers
// anew from their RIDs. Chromium stops sending RIDs once a receiver report acknowledges a
// layer, so the server never reports RID layers (sfu/src/peer/reports.rs): all three must keep
// arriving.
step("Alice's camera connection is renegotiated: every layer keeps flowing to Bob", async () => {
  await alice.evaluate(() => window.parleyClient.unpublishTrack('microphone'));
  const offers = await alice.evaluate(() => window.parleyClient.publisherPc.localDescription.sdp.includes('a=inactive'));
  assert.ok(offers, 'the microphone m-line was renegotiated to inactive');
  const before = await bobVideo();
  await eventually(async () => {
    const now = await bobVideo();
    if (now.framesDecoded < before.framesDecoded + 30) throw new Error(JSON.stringify(summary(now)));
    return true;
  }, { timeout: 10_000, what: "Bob: 30 more frames of Alice's video after the new offer" });
  const dpr = await bob.evaluate(() => devicePixelRatio);
  await styleTile(`{ width: ${200 / dpr}px; }`);
  await expectLayer(320, 180, 10_000);
  await styleTile(`{ width: ${640 / dpr}px; }`);
  await expectLayer(640, 360, 15_000);
  await styleTile(`{ width: ${1280 / dpr}px; }`);
  await expectLayer(1280, 720, 30_000);
}, 75_000);
