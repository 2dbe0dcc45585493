// ICE restart end to end: Bob's Chromium sits in a network namespace; mid-call his machine
// moves to another address (his old one, and every socket bound to it, is gone: a laptop
// going from one network to another). His WebSocket dies with it; the SDK resumes the session
// on a new socket (no new join: same participant) and restarts ICE on every connection, and
// media flows again both ways over the new address, simulcast layers intact. Records the time
// from the move to the next frames decoded over the new address. Run with
// `node --test ice-restart.test.mjs` here.
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { clientStats, eventually, joinWithApp, suite, summary } from './harness.mjs';
import { decodedVideoFrames, firstDecodedFrame, selectedLocalCandidate } from './paths.mjs';
import { createNetns, moveToNextAddress, netnsUnsupported, openAppInNetns } from './netns.mjs';

const room = `icerestart-${process.pid}`;
/** @type {import('./netns.mjs').Netns | undefined} */
let netns;
/** @type {import('playwright-core').Browser | undefined} */
let nsBrowser;

const serverOptions = { listen: '0.0.0.0', publicIp: '127.0.0.1' };
before(() => {
  const why = netnsUnsupported();
  assert.equal(why, '', `this test needs network namespaces: ${why}`);
  netns = createNetns('ir', 216);
  serverOptions.publicIp = `127.0.0.1,${netns.rootIp}`;
});

const env = suite('ice-restart', serverOptions);
const { step } = env;

after(async () => {
  await nsBrowser?.close().catch(() => {});
  netns?.teardown();
});

/** @type {Record<string, import('playwright-core').Page>} */
const pages = {};
let bobSid = '';

/**
 * Waits until `page`'s connection `pc` runs from `address` and `count` more frames are decoded
 * (by `decoder`) after that; returns when that happened.
 * @param {import('playwright-core').Page} page @param {'publisherPc' | 'subscriberPc'} pc
 * @param {string} address @param {import('playwright-core').Page} decoder @param {string} what
 */
async function framesOver(page, pc, address, decoder, what) {
  await eventually(async () => {
    const local = await selectedLocalCandidate(page, pc);
    if (local?.address !== address) throw new Error(`selected local candidate ${JSON.stringify(local)}`);
    return true;
  }, { timeout: 45_000, what: `${what}: path over ${address}` });
  const start = await decodedVideoFrames(decoder);
  await eventually(async () => {
    const now = await decodedVideoFrames(decoder);
    if (now < start + 5) throw new Error(`${now - start} frames since`);
    return true;
  }, { timeout: 15_000, what: `${what}: frames over ${address}` });
  return Date.now();
}

step('Alice (this machine) and Bob (his own network) are in a call and decode each other', async () => {
  assert.ok(netns && env.server);
  pages.Alice = await env.openPage('Alice');
  await joinWithApp(pages.Alice, 'Alice', room);
  ({ browser: nsBrowser, page: pages.Bob } = await openAppInNetns(netns, env.server));
  await joinWithApp(pages.Bob, 'Bob', room);
  await firstDecodedFrame(pages.Bob, 'Bob');
  await firstDecodedFrame(pages.Alice, 'Alice');
  bobSid = await pages.Bob.evaluate(() => window.parleyClient.you.sid);
  const local = await selectedLocalCandidate(pages.Bob, 'subscriberPc');
  assert.equal(local?.address, netns.nsIp, JSON.stringify(local));
  await pages.Bob.evaluate(() => {
    window.recovery = [];
    for (const name of ['reconnecting', 'reconnected', 'disconnected']) {
      window.parleyClient.on(name, (e) => window.recovery.push({ name, at: Date.now(), ...e }));
    }
    // A timeline for the measurement: when each connection's ICE changed state.
    for (const leg of /** @type {const} */ (['publisherPc', 'subscriberPc'])) {
      const pc = window.parleyClient[leg];
      pc?.addEventListener('iceconnectionstatechange', () => window.recovery.push({ name: `${leg} ${pc.iceConnectionState}`, at: Date.now() }));
    }
  });
}, 90_000);

step("Bob's address changes: the session resumes, ICE restarts, media flows again both ways", async () => {
  assert.ok(netns && env.server);
  const next = moveToNextAddress(netns);
  const moved = Date.now();
  const [bobSees, aliceSees] = await Promise.all([
    framesOver(pages.Bob, 'subscriberPc', next, pages.Bob, "Bob receiving Alice"),
    framesOver(pages.Bob, 'publisherPc', next, pages.Alice, "Alice receiving Bob"),
  ]);
  const recovery = await pages.Bob.evaluate(() => window.recovery);
  const timeline = recovery.map((e) => `+${e.at - moved} ms ${e.name}`).join(', ');
  console.log(`MEASURED: address change -> 5 frames over the new address: Bob decoding ${bobSees - moved} ms, Alice decoding Bob ${aliceSees - moved} ms; Bob's side: ${timeline}`);
  // The same session: no new join, no participant left and came back.
  assert.equal(await pages.Bob.evaluate(() => window.parleyClient.you.sid), bobSid);
  assert.ok(await pages.Alice.evaluate((sid) => window.parleyClient.participants.has(sid), bobSid), 'Alice still has Bob');
  assert.ok(recovery.every((e) => e.name !== 'disconnected' && (e.name !== 'reconnected' || e.resumed)),
    `only resumed, never rejoined: ${JSON.stringify(recovery)}`);
}, 90_000);

step("Alice still gets Bob's simulcast layers: the smallest, then a bigger one", async () => {
  const track = await pages.Alice.evaluate((sid) => window.parleyClient.participants.get(sid)
    ?.tracks.find((t) => t.kind === 'video')?.sid, bobSid);
  assert.ok(track, "Bob's camera track");
  /** @param {number} maxLayer */
  const widthAt = async (maxLayer) => {
    await pages.Alice.evaluate(([sid, layer]) => window.parleyClient.setSubscription(sid, { maxLayer: layer }), [track, maxLayer]);
    return eventually(async () => {
      const v = (await clientStats(pages.Alice, 'subscriberPc')).filter((s) => s.type === 'inbound-rtp' && s.kind === 'video');
      const width = v[0]?.frameWidth ?? 0;
      const before = v[0]?.framesDecoded ?? 0;
      await new Promise((r) => setTimeout(r, 500));
      const after = (await clientStats(pages.Alice, 'subscriberPc')).find((s) => s.type === 'inbound-rtp' && s.kind === 'video');
      if (!after || after.frameWidth !== width || after.framesDecoded <= before) throw new Error(JSON.stringify(v.map(summary)));
      return width;
    }, { timeout: 20_000, what: `Alice decoding Bob at layer ≤ ${maxLayer}` });
  };
  const small = await widthAt(0);
  await eventually(async () => (await widthAt(2)) > small, { timeout: 30_000, what: 'a bigger layer than q' });
}, 75_000);
