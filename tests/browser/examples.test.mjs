// End to end: the SDK examples in web-client/examples/, served by the server, with tokens minted
// by `parley token` as an app's backend would.
// Telehealth: the patient waits (no video) until the doctor admits them with a video call; then
// both see each other's video and can chat in the call room.
// Classroom: two students see the teacher's video; a raised hand shows on the teacher's page;
// "Mute all" mutes the students, which the other students' pages show.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { eventually, screenshot, serverBin, suite } from './harness.mjs';

const secret = `examples-test-${process.pid}-secret-0123456789abcdef`;
const env = suite('examples', { env: { PARLEY_JWT_SECRET: secret } });
const { step } = env;

/** @param {string} room @param {string} identity @param {string} name @param {string} grants */
const token = (room, identity, name, grants) => execFileSync(serverBin,
  ['token', '--room', room, '--identity', identity, '--name', name, '--grants', grants],
  { env: { ...process.env, PARLEY_JWT_SECRET: secret }, encoding: 'utf8' }).trim();

const suffix = String(process.pid);
/** @param {import('playwright-core').Page} page */
const state = (page) => page.evaluate(() => document.body.dataset.state);
/**
 * `framesDecoded` of the inbound-rtp stream that feeds the video element under `selector`
 * (matched by its track's id in the subscriber connection's stats).
 * @param {import('playwright-core').Page} page @param {string} selector
 */
const framesDecoded = (page, selector) => page.locator(selector).evaluate(async (v) => {
  const track = /** @type {MediaStream | null} */ (/** @type {HTMLVideoElement} */ (v).srcObject)?.getVideoTracks()[0];
  const pc = /** @type {RTCPeerConnection | null} */ (/** @type {any} */ (window).parleyClient.subscriberPc);
  if (!track || !pc) return 0;
  const inbound = [...(await pc.getStats()).values()].find((s) => s.type === 'inbound-rtp' && s.trackIdentifier === track.id);
  return inbound?.framesDecoded ?? 0;
});

/**
 * Wait until the video under `selector` has decoded frames, and keeps decoding.
 * @param {import('playwright-core').Page} page @param {string} selector @param {string} what
 */
async function videoFlows(page, selector, what) {
  const first = await eventually(async () => {
    const n = await framesDecoded(page, selector);
    return n > 0 ? n : 0;
  }, { timeout: 20_000, what: `frames of ${what}` });
  await eventually(async () => (await framesDecoded(page, selector)) > first, { timeout: 10_000, what: `more frames of ${what}` });
}

/** @type {import('playwright-core').Page} */ let patient;
/** @type {import('playwright-core').Page} */ let doctor;
const patientId = `pat-${suffix}`;
const doctorId = `doc-${suffix}`;

step('the examples are served', async () => {
  for (const p of ['examples/telehealth/index.html', 'examples/telehealth/telehealth.js', 'examples/classroom/index.html', 'examples/classroom/classroom.js', 'examples/examples.css']) {
    const res = await fetch(`${env.server?.baseUrl}${p}`);
    assert.equal(res.status, 200, p);
  }
});

step('telehealth: the patient waits, with no video, while the doctor is not there', async () => {
  const base = `${env.server?.baseUrl}examples/telehealth/index.html`;
  patient = await env.openPage('patient', `${base}?role=patient#token=${token(`home-${patientId}`, patientId, 'Pat', 'chat')}`);
  await eventually(async () => (await state(patient)) === 'waiting', { timeout: 10_000, what: 'patient waiting' });
  assert.equal(await patient.getByRole('status').textContent(), 'Waiting for the doctor…');
  doctor = await env.openPage('doctor', `${base}?role=doctor&patient=${patientId}#token=${token(`home-${doctorId}`, doctorId, 'Dr Doe', 'chat')}`);
  await eventually(async () => (await state(doctor)) === 'ready', { timeout: 10_000, what: 'doctor ready' });
  await patient.waitForTimeout(1000);
  assert.equal(await state(patient), 'waiting');
  assert.equal(await patient.locator('video').count(), 0, 'no video before the doctor admits');
  assert.equal(await patient.locator('#visit').isHidden(), true);
  await screenshot(patient, 'examples-telehealth-waiting');
}, 30_000);

step('telehealth: the doctor admits; both join the call and see each other\'s video', async () => {
  await doctor.getByRole('button', { name: 'Admit' }).click();
  for (const page of [patient, doctor]) {
    await eventually(async () => (await state(page)) === 'in-call', { timeout: 20_000, what: 'in the call' });
  }
  const rooms = await Promise.all([patient, doctor].map((p) => p.evaluate(() => /** @type {any} */ (window).parleyClient.room)));
  assert.equal(rooms[0], rooms[1], 'both in the same room');
  await videoFlows(patient, `.tile[data-identity="${doctorId}"] video`, 'the doctor on the patient\'s page');
  await videoFlows(doctor, `.tile[data-identity="${patientId}"] video`, 'the patient on the doctor\'s page');
  await screenshot(doctor, 'examples-telehealth-visit');
}, 60_000);

step('telehealth: chat beside the video, in the call room\'s conversation', async () => {
  await patient.getByLabel('Message').fill('My knee hurts');
  await patient.getByRole('button', { name: 'Send' }).click();
  await eventually(async () => (await doctor.locator('#chat-log li').allTextContents()).includes(`${patientId}: My knee hurts`),
    { timeout: 10_000, what: 'the patient\'s message on the doctor\'s page' });
  await eventually(async () => (await patient.locator('#chat-log li').allTextContents()).includes('You: My knee hurts'),
    { timeout: 10_000, what: 'the patient\'s own message' });
  await patient.context().close();
  await doctor.context().close();
}, 30_000);

const room = `class-${suffix}`;
const teacherId = `teacher-${suffix}`;
/** @type {import('playwright-core').Page} */ let teacher;
/** @type {import('playwright-core').Page[]} */ const students = [];
const studentIds = [`amy-${suffix}`, `bob-${suffix}`];

step('classroom: two students see the teacher\'s video', async () => {
  const base = `${env.server?.baseUrl}examples/classroom/index.html`;
  teacher = await env.openPage('teacher', `${base}?role=teacher#token=${token(room, teacherId, 'Ms Lee', 'join,publish,subscribe,chat,moderate')}`);
  await eventually(async () => (await state(teacher)) === 'joined', { timeout: 15_000, what: 'teacher joined' });
  for (const id of studentIds) {
    const page = await env.openPage(id, `${base}?role=student#token=${token(room, id, id, 'join,subscribe,chat,publish')}`);
    await eventually(async () => (await state(page)) === 'joined', { timeout: 15_000, what: `${id} joined` });
    students.push(page);
  }
  for (const [i, page] of students.entries()) {
    await videoFlows(page, `#stage .tile[data-identity="${teacherId}"] video`, `the teacher on ${studentIds[i]}'s page`);
  }
  // Each student sees the other in the class, unmuted, with their microphone.
  for (const [i, page] of students.entries()) {
    const other = page.locator(`#class .tile[data-identity="${studentIds[1 - i]}"]`);
    await eventually(async () => (await other.locator('audio').count()) > 0, { timeout: 15_000, what: `${studentIds[1 - i]}'s audio` });
    assert.equal(await other.getAttribute('data-muted'), 'false');
  }
  await screenshot(students[0], 'examples-classroom-student');
}, 60_000);

step('classroom: a raised hand shows on the teacher\'s page', async () => {
  await students[0].getByRole('button', { name: 'Raise hand' }).click();
  const hand = teacher.locator(`#hands li[data-identity="${studentIds[0]}"]`);
  await hand.waitFor({ timeout: 10_000 });
  assert.equal(await hand.textContent(), `✋ ${studentIds[0]}`);
  assert.equal(await teacher.locator('#hands li').count(), 1);
}, 30_000);

step('classroom: "Mute all" mutes the students, as the other students\' pages show', async () => {
  await teacher.getByRole('button', { name: 'Mute all' }).click();
  for (const [i, page] of students.entries()) {
    const other = page.locator(`#class .tile[data-identity="${studentIds[1 - i]}"]`);
    await eventually(async () => (await other.getAttribute('data-muted')) === 'true', { timeout: 10_000, what: `${studentIds[1 - i]} shown muted` });
    // The teacher was not muted.
    assert.equal(await page.locator(`.tile[data-identity="${teacherId}"]`).getAttribute('data-muted'), 'false');
  }
  for (const id of studentIds) {
    await eventually(async () => (await teacher.locator(`.tile[data-identity="${id}"]`).getAttribute('data-muted')) === 'true',
      { timeout: 10_000, what: `${id} muted on the teacher's page` });
  }
  assert.equal(await teacher.getByRole('status').textContent(), 'Muted 2 students.');
  await screenshot(teacher, 'examples-classroom-teacher');
}, 30_000);
