// End to end: a plain WHIP publisher (RFC 9725, no SDK) in one Chromium page publishes into a
// room; a viewer in the bundled app sees its tile and decodes its video; DELETE on the session
// URL removes it. Run with `node --test` in this directory.
import assert from 'node:assert/strict';
import { clientStats, eventually, joinWithApp, sleep, suite, summary } from './harness.mjs';

// Starts this file's server and browser in `before`, stops them in `after`.
const env = suite('whip');
const { step } = env;
const room = `whip-${process.pid}`;
const whipName = 'WHIP Camera';

/** @type {{token: string, identity: string}} */
const whip = { token: '', identity: '' };
/** @type {import('playwright-core').Page} */
let publisher;
/** @type {import('playwright-core').Page} */
let viewer;

const whipTile = () => viewer.locator(`#tiles .tile[data-identity="${whip.identity}"]`);
const inbound = async () => (await clientStats(viewer, 'subscriberPc')).filter((s) => s.type === 'inbound-rtp');

step('a plain WHIP publisher gets 201 Created, an answer and a Location', async () => {
  assert.ok(env.server);
  const res = await fetch(`${env.server.baseUrl}api/guest-token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: whipName, room }),
  });
  assert.equal(res.status, 200, `POST /api/guest-token: ${res.status} ${await res.clone().text()}`);
  const { token, identity } = await res.json();
  Object.assign(whip, { token, identity });
  assert.ok(token && identity, 'guest token response lacks token or identity');

  // Any same-origin page will do: the publisher needs no SDK.
  publisher = await env.openPage('WHIP publisher', `${env.server.baseUrl}healthz`);
  const result = await publisher.evaluate(async ({ room, token }) => {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    const pc = new RTCPeerConnection();
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly' });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const res = await fetch(`/whip/${room}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
      body: offer.sdp,
    });
    const body = await res.text();
    if (res.status !== 201) return { status: res.status, body };
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    window.whip = { pc, stream, location: res.headers.get('Location') };
    return { status: res.status, location: window.whip.location, contentType: res.headers.get('Content-Type') };
  }, { room, token });
  assert.equal(result.status, 201, `POST /whip/${room}: ${JSON.stringify(result)}`);
  assert.match(result.location ?? '', new RegExp(`^/whip/${room}/[^/]+$`), `Location: ${result.location}`);
  assert.match(result.contentType ?? '', /^application\/sdp/, `Content-Type: ${result.contentType}`);
  await eventually(() => publisher.evaluate(() => {
    const state = window.whip.pc.connectionState;
    if (state !== 'connected') throw new Error(`publisher pc ${state}`);
    return true;
  }), { timeout: 15_000, what: 'WHIP publisher connected' });
}, 45_000);

step("a viewer in the app sees the WHIP participant's tile under its name", async () => {
  viewer = await env.openPage('Viewer');
  await joinWithApp(viewer, 'Viewer', room);
  await whipTile().waitFor({ timeout: 15_000 });
  assert.equal(await whipTile().locator('.name').textContent(), whipName);
  assert.equal(await viewer.locator('#tiles .tile').count(), 1);
}, 45_000);

step("the WHIP publisher's video decodes and its audio arrives on the viewer", async () => {
  await eventually(async () => {
    const rtp = await inbound();
    const ok = rtp.some((s) => s.kind === 'video' && s.framesDecoded > 0 && s.frameWidth > 0)
      && rtp.some((s) => s.kind === 'audio' && s.packetsReceived > 0);
    if (!ok) throw new Error(`inbound-rtp: ${JSON.stringify(rtp.map(summary))}`);
    return ok;
  }, { timeout: 15_000, what: 'Viewer: first decoded WHIP video frame and audio packet' });
  const first = await inbound();
  await sleep(1500);
  const second = await inbound();
  const before = new Map(first.map((s) => [s.id, s]));
  const video = second.find((s) => s.kind === 'video' && s.frameWidth > 0
    && s.framesDecoded > (before.get(s.id)?.framesDecoded ?? Infinity));
  assert.ok(video, `framesDecoded did not increase: ${JSON.stringify(second.filter((s) => s.kind === 'video').map(summary))}`);
  const audio = second.find((s) => s.kind === 'audio'
    && s.packetsReceived > (before.get(s.id)?.packetsReceived ?? Infinity));
  assert.ok(audio, `audio packetsReceived did not increase: ${JSON.stringify(second.filter((s) => s.kind === 'audio').map(summary))}`);
  // The tile, not just the peer connection, got the stream.
  await eventually(() => whipTile().locator('video').evaluate((v) => v.videoWidth > 0 && !v.paused),
    { timeout: 10_000, what: "Viewer: the WHIP tile's video playing" });
});

step('DELETE on the Location ends the session and the tile goes within 2 s', async () => {
  // Timed from before the request, so its own latency counts against the budget.
  const sent = Date.now();
  const status = await publisher.evaluate(async (token) => {
    const res = await fetch(window.whip.location, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    return res.status;
  }, whip.token);
  assert.equal(status, 200, `DELETE ${await publisher.evaluate(() => window.whip.location)}: ${status}`);
  const budget = Math.max(1, 2000 - (Date.now() - sent));
  await whipTile().waitFor({ state: 'detached', timeout: budget });
  const took = Date.now() - sent;
  assert.ok(took <= 2000, `tile removed after ${took} ms`);
  assert.equal(await viewer.locator('#tiles .tile').count(), 0);
  assert.equal(await viewer.evaluate(() => document.body.dataset.state), 'joined');
  await publisher.evaluate(() => window.whip.pc.close());
});
