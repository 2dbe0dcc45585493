// End to end: the join screen's device picker. Chromium runs with three fake cameras and three
// fake microphones; the preview shows the picked devices, and joining publishes exactly those.
import assert from 'node:assert/strict';
import { clientStats, eventually, joinWithApp, screenshot, suite, summary } from './harness.mjs';

const env = suite('lobby');
const { step } = env;
const room = `lobby-${process.pid}`;

/** @type {import('playwright-core').Page} */
let alice;
/** @type {{camera: string, microphone: string}} device ids Alice picked */
const picked = { camera: '', microphone: '' };

/** The device ids behind the preview's tracks. */
const previewDevices = () => alice.evaluate(() => {
  const v = /** @type {HTMLVideoElement} */ (document.getElementById('preview'));
  const stream = /** @type {MediaStream | null} */ (v.srcObject);
  return {
    camera: stream?.getVideoTracks()[0]?.getSettings().deviceId ?? null,
    microphone: stream?.getAudioTracks()[0]?.getSettings().deviceId ?? null,
    playing: v.videoWidth > 0 && !v.paused,
  };
});

step('the join screen lists the cameras and the microphones, and previews the default camera', async () => {
  alice = await env.openPage('Alice');
  const camera = alice.getByLabel('Camera', { exact: true });
  const microphone = alice.getByLabel('Microphone', { exact: true });
  await eventually(async () => (await camera.locator('option').count()) === 3,
    { timeout: 10_000, what: 'three camera options' });
  assert.deepEqual(await camera.locator('option').allTextContents(), ['fake_device_0', 'fake_device_1', 'fake_device_2']);
  const mics = await microphone.locator('option').allTextContents();
  assert.ok(mics.length >= 2 && mics.every((l) => l.startsWith('Fake')), `microphones: ${JSON.stringify(mics)}`);
  await eventually(async () => (await previewDevices()).playing, { timeout: 10_000, what: 'preview playing' });
  const now = await previewDevices();
  assert.equal(now.camera, await camera.inputValue(), 'the picker shows the camera the preview uses');
});

step('picking another camera and another microphone switches the preview', async () => {
  const camera = alice.getByLabel('Camera', { exact: true });
  const microphone = alice.getByLabel('Microphone', { exact: true });
  const oldTracks = await alice.evaluate(() => {
    const v = /** @type {HTMLVideoElement} */ (document.getElementById('preview'));
    // Kept to check they are released once replaced.
    /** @type {any} */ (window).oldPreviewTracks = /** @type {MediaStream} */ (v.srcObject).getTracks();
    return /** @type {any} */ (window).oldPreviewTracks.length;
  });
  assert.equal(oldTracks, 2);
  await camera.selectOption({ label: 'fake_device_2' });
  picked.camera = await camera.inputValue();
  await eventually(async () => {
    const now = await previewDevices();
    return now.camera === picked.camera && now.playing;
  }, { timeout: 10_000, what: 'preview showing fake_device_2' });
  await microphone.selectOption({ label: 'Fake Audio Input 2' });
  picked.microphone = await microphone.inputValue();
  await eventually(async () => (await previewDevices()).microphone === picked.microphone,
    { timeout: 10_000, what: 'preview using Fake Audio Input 2' });
  const released = await alice.evaluate(() => /** @type {any} */ (window).oldPreviewTracks.map((/** @type {MediaStreamTrack} */ t) => t.readyState));
  assert.deepEqual(released, ['ended', 'ended'], 'the replaced preview tracks are stopped (camera light off)');
});

step('the microphone level meter moves with the fake microphone', async () => {
  // Autoplay rules: the meter's AudioContext runs after the first interaction with the page.
  await alice.getByLabel('Name').click();
  await eventually(() => alice.locator('#mic-level').evaluate((m) => /** @type {HTMLMeterElement} */ (m).value > 0.01),
    { timeout: 10_000, what: 'microphone level above 0.01' });
});

step('joining publishes the picked camera and microphone, and Bob receives them', async () => {
  await joinWithApp(alice, 'Alice', room);
  const sent = await alice.evaluate(() => {
    const senders = /** @type {any} */ (window).parleyClient.publisherPc.getSenders();
    const of = (/** @type {string} */ kind) => senders.find((/** @type {RTCRtpSender} */ s) => s.track?.kind === kind)?.track?.getSettings().deviceId;
    return { camera: of('video'), microphone: of('audio') };
  });
  assert.deepEqual(sent, picked);
  // The preview handed its stream to the call instead of opening the devices twice.
  assert.equal(await alice.locator('#lobby').isHidden(), true);
  const bob = await env.openPage('Bob');
  await joinWithApp(bob, 'Bob', room);
  await eventually(async () => {
    const rtp = (await clientStats(bob, 'subscriberPc')).filter((s) => s.type === 'inbound-rtp');
    const ok = rtp.some((s) => s.kind === 'video' && s.framesDecoded > 0) && rtp.some((s) => s.kind === 'audio' && s.packetsReceived > 0);
    if (!ok) throw new Error(JSON.stringify(rtp.map(summary)));
    return ok;
  }, { timeout: 15_000, what: "Bob decoding Alice's picked camera and hearing her microphone" });
  await screenshot(alice, 'lobby-alice-in-call');
  await screenshot(bob, 'lobby-bob-in-call');
}, 45_000);

step('leaving returns to the join screen with the preview running again', async () => {
  await alice.getByRole('button', { name: 'Leave' }).click();
  await alice.locator('#lobby').waitFor({ state: 'visible' });
  await eventually(async () => (await previewDevices()).playing, { timeout: 10_000, what: 'preview playing after leaving' });
  await screenshot(alice, 'lobby-join-screen');
});
