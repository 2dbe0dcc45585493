// End to end with a second browser: Fiona is headless Firefox ESR (puppeteer-core over WebDriver
// BiDi), Bob headless Chromium, both on the bundled app. Firefox names its tracks in the SDP's
// msid with ids of its own (not MediaStreamTrack.id), so this is where the SDK's track naming is
// checked: Fiona's dynacast layers, her screen share's source and its unpublish all depend on it.
// - Firefox publishes (three simulcast layers), Chromium decodes; Chromium publishes, Firefox
//   decodes.
// - Dynacast: while Bob shows Fiona small, her browser stops sending layers h and f (its
//   outbound-rtp stats stop), and sends f again when he shows her large.
// - Fiona shares a "screen" (a canvas captureStream(): headless Firefox has no getDisplayMedia
//   source); Bob gets a screen tile, and it goes away when she stops.
// - Camera off: Fiona's browser sends no video at all (no layer's stats grow), audio goes on.
// Run with `node --test firefox.test.mjs` in this directory.
import assert from 'node:assert/strict';
import { clientStats, eventually, joinWithApp, setTestStyle, sleep, suite, summary } from './harness.mjs';

const env = suite('firefox', { firefox: true });
const { step } = env;
const room = `firefox-${process.pid}`;

/** @type {import('puppeteer-core').Page} */
let fiona;
/** @type {import('playwright-core').Page} */
let bob;
let fionaIdentity = '';
let bobIdentity = '';
/** Bob's style sheet that currently sizes Fiona's tile, if any. */
const started = Date.now();
/** @type {Record<string, number>} ms per step, printed at the end */
const timings = {};

/** Time a step's body under `name`. @param {string} name @param {() => Promise<void>} fn */
async function timed(name, fn) {
  const t0 = Date.now();
  await fn();
  timings[name] = Date.now() - t0;
}

const fionaTile = () => `#tiles .tile[data-identity="${fionaIdentity}"]`;
const fionaScreenTile = () => bob.locator(`#tiles .tile.screen[data-screen-of="${fionaIdentity}"]`);

/** Replace Bob's sizing rule for Fiona's camera tile (`null`: the app's own layout). @param {string | null} css */
async function styleTile(css) {
  await setTestStyle(bob, css && `${fionaTile()} ${css}`);
}

/** @param {number} width device pixels */
async function tileWidth(width) {
  const dpr = await bob.evaluate(() => devicePixelRatio);
  await styleTile(`{ width: ${width / dpr}px; }`);
}

/** Bob's inbound video streams. */
const bobVideo = async () => (await clientStats(bob, 'subscriberPc')).filter((s) => s.type === 'inbound-rtp' && s.kind === 'video');

/**
 * Fiona's video encodings as her browser reports them: outbound-rtp per simulcast layer, keyed
 * by RID (Firefox reports `rid` on each layer's stats).
 * @param {'publisherPc' | 'screenPc'} [pc]
 */
async function fionaLayers(pc = 'publisherPc') {
  const report = await clientStats(/** @type {any} */ (fiona), /** @type {any} */ (pc));
  return report.filter((s) => s.type === 'outbound-rtp' && s.kind === 'video')
    .map(({ rid, ssrc, bytesSent, packetsSent, framesSent, frameWidth, frameHeight }) => ({
      rid: rid ?? '', ssrc, bytesSent: bytesSent ?? 0, packetsSent: packetsSent ?? 0, framesSent, frameWidth, frameHeight,
    }))
    .sort((a, b) => a.rid.localeCompare(b.rid));
}

/** Fiona's camera sender's encodings: RID and `active`, in her order. */
function fionaEncodings() {
  return fiona.evaluate(() => {
    // By the transceiver: a camera that is off has no track on its sender.
    const sender = window.parleyClient.publisherPc.getTransceivers().find((t) => t.receiver.track.kind === 'video')?.sender;
    return sender?.getParameters().encodings.map((e) => ({ rid: e.rid, active: e.active })) ?? null;
  });
}

/**
 * Which of Fiona's layers sent bytes (and packets) over a window of `ms`: by RID, the growth.
 * @param {number} ms
 */
async function layerGrowth(ms) {
  const before = await fionaLayers();
  await sleep(ms);
  const after = await fionaLayers();
  /** @type {Record<string, {bytes: number, packets: number, frameWidth: number | undefined}>} */
  const growth = {};
  for (const l of after) {
    const b = before.find((x) => x.ssrc === l.ssrc);
    growth[l.rid || String(l.ssrc)] = {
      bytes: l.bytesSent - (b?.bytesSent ?? 0),
      packets: l.packetsSent - (b?.packetsSent ?? 0),
      frameWidth: l.frameWidth,
    };
  }
  return growth;
}

step('Firefox joins and publishes its camera as three simulcast layers; Chromium decodes it', async () => {
  await timed('firefox publishes, chromium decodes', async () => {
    fiona = await env.openFirefoxPage('Fiona (Firefox)');
    fionaIdentity = await joinWithApp(fiona, 'Fiona', room);
    const rids = await fiona.evaluate(() => window.parleyClient.publisherPc.getSenders()
      .find((s) => s.track?.kind === 'video')?.getParameters().encodings.map((e) => e.rid));
    assert.deepEqual(rids, ['q', 'h', 'f']);
    // Firefox's msid track ids are its own: the server must still know which track is what.
    const msidDiffers = await fiona.evaluate(() => {
      const pc = window.parleyClient.publisherPc;
      const video = pc.getTransceivers().find((t) => t.sender.track?.kind === 'video');
      const section = pc.localDescription?.sdp.split(/\r\n(?=m=)/).find((m) => m.includes(`\r\na=mid:${video?.mid}\r\n`));
      const msid = /a=msid:\S+ (\S+)/.exec(section ?? '')?.[1];
      return { msid, trackId: video?.sender.track?.id };
    });
    assert.ok(msidDiffers.msid, `no msid in Fiona's offer: ${JSON.stringify(msidDiffers)}`);
    console.log("Fiona's camera: msid track id", msidDiffers.msid, 'MediaStreamTrack.id', msidDiffers.trackId);
    await eventually(async () => {
      const sources = await fiona.evaluate(() => window.parleyClient.you.tracks.map((t) => t.source).sort());
      assert.deepEqual(sources, ['camera', 'microphone']);
      return true;
    }, { timeout: 20_000, what: "the server announcing Fiona's camera and microphone to her" });

    bob = await env.openPage('Bob (Chromium)');
    bobIdentity = await joinWithApp(bob, 'Bob', room);
    await bob.locator(fionaTile()).waitFor({ timeout: 20_000 });
    await eventually(async () => {
      const video = await bobVideo();
      return video.length === 1 && video[0].framesDecoded > 0;
    }, { timeout: 30_000, what: "Bob (Chromium): first decoded frame of Fiona's (Firefox) camera" });
    await eventually(() => bob.locator(`${fionaTile()} video`).evaluate((v) => v.videoWidth > 0 && !v.paused),
      { timeout: 15_000, what: "Fiona's tile playing for Bob" });
  });
}, 120_000);

step('Chromium publishes and Firefox decodes it, in a tile of the app', async () => {
  await timed('chromium publishes, firefox decodes', async () => {
    const bobTile = `#tiles .tile[data-identity="${bobIdentity}"]`;
    await fiona.waitForSelector(bobTile, { timeout: 20_000 });
    const fionaVideo = async () => (await clientStats(/** @type {any} */ (fiona), 'subscriberPc'))
      .filter((s) => s.type === 'inbound-rtp' && s.kind === 'video');
    let first = 0;
    await eventually(async () => {
      const video = await fionaVideo();
      if (video.length !== 1 || !(video[0].framesDecoded > 0)) throw new Error(JSON.stringify(video.map(summary)));
      first = video[0].framesDecoded;
      return true;
    }, { timeout: 30_000, what: "Fiona (Firefox): first decoded frame of Bob's (Chromium) camera" });
    await eventually(async () => ((await fionaVideo())[0]?.framesDecoded ?? 0) > first + 5,
      { timeout: 15_000, what: "Fiona (Firefox) to keep decoding Bob's camera" });
    await eventually(() => fiona.$eval(`${bobTile} video`, (v) => v.videoWidth > 0 && !v.paused),
      { timeout: 15_000, what: "Bob's tile playing for Fiona" });
  });
}, 60_000);

step('Firefox sends all three layers while Bob shows her large', async () => {
  await timed('all layers flowing', async () => {
    await tileWidth(1280);
    try {
      // Firefox's bandwidth estimate has to grow to ~2 Mbit/s first; slow on a loaded machine.
      await eventually(async () => {
        const growth = await layerGrowth(1000);
        const sending = ['q', 'h', 'f'].filter((rid) => (growth[rid]?.bytes ?? 0) > 0);
        if (sending.length !== 3) throw new Error(`layers sending: ${JSON.stringify(growth)}`);
        return true;
      }, { timeout: 60_000, interval: 500, what: 'Fiona (Firefox) sending layers q, h and f' });
    } catch (err) {
      err.message += `\nFiona's layers: ${JSON.stringify(await fionaLayers())}\nencodings: ${JSON.stringify(await fionaEncodings())}`;
      throw err;
    }
  });
}, 90_000);

step("dynacast: with Bob's only tile of her small, Firefox stops sending layers h and f", async () => {
  await timed('dynacast pauses h and f', async () => {
    await tileWidth(200);
    // The server tells Fiona (`publisher_layers`) by the msid track id of her offer; the SDK
    // finds her camera's sender by it and switches h and f off.
    await eventually(async () => {
      const enc = await fionaEncodings();
      assert.deepEqual(enc, [{ rid: 'q', active: true }, { rid: 'h', active: false }, { rid: 'f', active: false }]);
      return true;
    }, { timeout: 20_000, what: "Fiona's sender switching off h and f (publisher_layers reaching her camera's sender)" });
    // Her browser stops those encodings: their stats stop while q goes on.
    /** @type {any} */
    let last;
    await eventually(async () => {
      last = await layerGrowth(2000);
      return last.q?.bytes > 0 && last.h?.bytes === 0 && last.h?.packets === 0 && last.f?.bytes === 0 && last.f?.packets === 0;
    }, { timeout: 20_000, interval: 0, what: 'layers h and f idle, q sending' }).catch((err) => {
      err.message += ` last window: ${JSON.stringify(last)}`;
      throw err;
    });
    console.log('Fiona per layer over 2 s with Bob showing her small:', JSON.stringify(last));
    // Bob still decodes her, at the small layer.
    await eventually(async () => {
      const [v] = await bobVideo();
      if (v?.frameWidth !== 320) throw new Error(JSON.stringify(v && summary(v)));
      return true;
    }, { timeout: 15_000, what: "Bob decoding Fiona's 320x180 layer" });
  });
}, 70_000);

step('dynacast: Bob showing her large again brings layer f back, and he decodes it', async () => {
  await timed('dynacast resumes f', async () => {
    await tileWidth(1280);
    // The server asks for f again once Bob's allocation climbs to it (as his bandwidth estimate
    // allows), and Fiona's sender switches it on. h stays off if nobody needs it on the way.
    /** @type {any} */
    let last;
    /** @type {any} */
    let enc;
    await eventually(async () => {
      enc = await fionaEncodings();
      last = await layerGrowth(1000);
      return enc?.find((/** @type {any} */ e) => e.rid === 'f')?.active && last.f?.bytes > 0;
    }, { timeout: 90_000, interval: 500, what: 'Fiona switching f on and sending it again' }).catch((err) => {
      err.message += ` encodings: ${JSON.stringify(enc)}; last window: ${JSON.stringify(last)}`;
      throw err;
    });
    console.log('Fiona per layer over 1 s with Bob showing her large:', JSON.stringify(last), JSON.stringify(enc));
    await eventually(async () => {
      const [v] = await bobVideo();
      if (v?.frameWidth !== 1280) throw new Error(JSON.stringify(v && summary(v)));
      return true;
    }, { timeout: 30_000, what: "Bob decoding Fiona's 1280x720 layer" });
    await styleTile(null);
  });
}, 150_000);

step("Firefox shares a screen (a canvas capture): Bob gets a screen tile, and it goes away when she stops", async () => {
  await timed('screen share shown and removed', async () => {
    await fiona.evaluate(async () => {
      // Headless Firefox has no screen to capture: a moving canvas stands in for one.
      const canvas = document.createElement('canvas');
      canvas.width = 1280;
      canvas.height = 720;
      const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
      let n = 0;
      const draw = () => {
        n++;
        ctx.fillStyle = '#fff';
        ctx.fillRect(0, 0, 1280, 720);
        ctx.fillStyle = '#123';
        ctx.font = '48px sans-serif';
        ctx.fillText(`slide ${n}`, 40 + (n % 400), 120);
      };
      draw();
      const timer = setInterval(draw, 66);
      const stream = canvas.captureStream(15);
      /** @type {any} */ (window).fakeScreen = { timer, stream };
      await window.parleyClient.publishScreen(undefined, { stream });
    });
    // The server labelled it a screen: its key in publish.tracks matched the offer's msid.
    await eventually(async () => {
      const sources = await fiona.evaluate(() => window.parleyClient.you.tracks.map((t) => t.source).sort());
      assert.deepEqual(sources, ['camera', 'microphone', 'screen']);
      return true;
    }, { timeout: 20_000, what: "the server announcing Fiona's screen as source screen" });
    await fionaScreenTile().waitFor({ timeout: 20_000 });
    await eventually(() => fionaScreenTile().locator('video').evaluate((v) => v.videoWidth > 0 && !v.paused),
      { timeout: 20_000, what: "Fiona's screen playing for Bob" });
    const screenInfo = await bob.evaluate((id) => [...window.parleyClient.participants.values()]
      .find((p) => p.identity === id)?.tracks.map((t) => `${t.kind}:${t.source}`).sort(), fionaIdentity);
    assert.deepEqual(screenInfo, ['audio:microphone', 'video:camera', 'video:screen']);
    const size = await fionaScreenTile().locator('video').evaluate((v) => `${v.videoWidth}x${v.videoHeight}`);
    console.log("Bob's screen tile of Fiona:", size);

    await fiona.evaluate(async () => {
      await window.parleyClient.unpublishTrack('screen');
      clearInterval(/** @type {any} */ (window).fakeScreen.timer);
    });
    await fionaScreenTile().waitFor({ state: 'detached', timeout: 15_000 });
    const left = await bob.evaluate((id) => [...window.parleyClient.participants.values()]
      .find((p) => p.identity === id)?.tracks.map((t) => t.source).sort(), fionaIdentity);
    assert.deepEqual(left, ['camera', 'microphone']);
    assert.equal(await bob.locator(fionaTile()).count(), 1, "Fiona's camera tile went too");
  });
}, 90_000);

step('camera off: Firefox sends no video at all, audio goes on; camera on brings it back', async () => {
  await timed('camera off and on', async () => {
    const toggle = '#camera-toggle';
    await fiona.locator(toggle).click();
    await eventually(async () => (await fiona.$eval(toggle, (b) => b.getAttribute('aria-pressed'))) === 'true',
      { timeout: 10_000, what: 'Turn off camera pressed' });
    await eventually(async () => (await fionaEncodings())?.every((e) => !e.active),
      { timeout: 10_000, what: "every encoding of Fiona's camera off" });
    const audioSent = async () => (await clientStats(/** @type {any} */ (fiona), 'publisherPc'))
      .find((s) => s.type === 'outbound-rtp' && s.kind === 'audio')?.packetsSent ?? 0;
    /** @type {any} */
    let last;
    await eventually(async () => {
      const audio = await audioSent();
      last = await layerGrowth(3000);
      const moving = Object.entries(last).filter(([, g]) => g.bytes > 0 || g.packets > 0);
      assert.ok(await audioSent() > audio, 'her audio stopped too');
      return moving.length === 0;
    }, { timeout: 20_000, interval: 0, what: 'no video packets from Fiona for 3 s' }).catch((err) => {
      err.message += ` last window: ${JSON.stringify(last)}`;
      throw err;
    });
    console.log("Fiona's video over 3 s with her camera off:", JSON.stringify(last));
    await eventually(() => bob.evaluate((id) => [...window.parleyClient.participants.values()]
      .find((p) => p.identity === id)?.tracks.find((t) => t.source === 'camera')?.muted === true, fionaIdentity),
    { timeout: 10_000, what: "Bob seeing Fiona's camera muted" });

    await fiona.locator(toggle).click();
    await eventually(async () => (await fiona.$eval(toggle, (b) => b.getAttribute('aria-pressed'))) === 'false',
      { timeout: 10_000, what: 'Turn off camera released' });
    const before = (await bobVideo())[0]?.framesDecoded ?? 0;
    await eventually(async () => ((await bobVideo())[0]?.framesDecoded ?? 0) > before + 10,
      { timeout: 30_000, what: "Bob decoding Fiona's camera again after she turned it on" });
    // Dynacast's choice survives the mute: Bob shows her at the app's layout size, so the layers
    // are whatever the server last asked for, and at least q is on.
    const enc = await fionaEncodings();
    assert.equal(enc?.[0].active, true, JSON.stringify(enc));
  });
  console.log(`Firefox suite timings (ms): ${JSON.stringify(timings)}, total ${Date.now() - started}`);
}, 90_000);
