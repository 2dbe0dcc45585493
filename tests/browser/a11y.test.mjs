// End to end: accessibility of the app's two screens. axe-core finds no serious or critical
// violations on the join screen or in a call (desktop and phone widths), everything is reachable
// and operable with the keyboard, and a phone-width screen gets a one-column layout.
import assert from 'node:assert/strict';
import { eventually, joinWithApp, screenshot, seriousA11yViolations, suite } from './harness.mjs';

const env = suite('a11y');
const { step } = env;
const room = `a11y-${process.pid}`;

/** @type {import('playwright-core').Page} */
let alice;
/** @type {import('playwright-core').Page} */
let bob;

/** @param {import('playwright-core').Page} page @param {string} what */
async function expectNoSerious(page, what) {
  const violations = await seriousA11yViolations(page);
  assert.deepEqual(violations, [], `${what}: ${JSON.stringify(violations, null, 2)}`);
}

const focused = (/** @type {import('playwright-core').Page} */ page) => page.evaluate(() => {
  const el = document.activeElement;
  return el ? el.id || el.getAttribute('aria-label') || el.textContent?.trim() || el.tagName : null;
});

step('the join screen has no serious accessibility violations', async () => {
  alice = await env.openPage('Alice');
  await eventually(() => alice.locator('#camera option').count().then((n) => n > 0), { timeout: 10_000, what: 'device list' });
  await expectNoSerious(alice, 'join screen');
  await screenshot(alice, 'a11y-join-screen');
});

step('the join form works from the keyboard alone, in a sensible order', async () => {
  await alice.keyboard.press('Tab');
  assert.equal(await focused(alice), 'Skip to content');
  const order = [];
  for (let i = 0; i < 5; i++) {
    await alice.keyboard.press('Tab');
    order.push(await focused(alice));
  }
  assert.deepEqual(order, ['name', 'room', 'camera', 'microphone', 'join']);
  await alice.locator('#name').focus();
  await alice.keyboard.type('Alice');
  await alice.keyboard.press('Tab');
  await alice.keyboard.type(room);
  await alice.keyboard.press('Enter');
  await alice.waitForFunction(() => document.body.dataset.state === 'joined', null, { timeout: 15_000 });
  // Focus moves into the call instead of being lost with the hidden form.
  assert.equal(await focused(alice), 'leave');
});

step('the call screen has no serious accessibility violations, with another participant in it', async () => {
  bob = await env.openPage('Bob');
  await joinWithApp(bob, 'Bob', room);
  await alice.locator('#tiles .tile').waitFor({ timeout: 15_000 });
  await eventually(() => alice.locator('#self').getAttribute('data-quality'), { timeout: 10_000, what: 'quality indicator' });
  await expectNoSerious(alice, 'call screen');
  await screenshot(alice, 'a11y-call-screen');
});

step('call controls are labelled toggle buttons that work with Space and Enter', async () => {
  const names = await alice.getByRole('toolbar', { name: 'Call controls' }).getByRole('button').evaluateAll(
    (buttons) => buttons.map((b) => [b.textContent?.trim(), b.getAttribute('aria-pressed')]),
  );
  assert.deepEqual(names, [['Mute microphone', 'false'], ['Turn off camera', 'false'], ['Share screen', 'false'], ['Chat', 'false'], ['Leave', null]]);
  const mic = alice.getByRole('button', { name: 'Mute microphone' });
  await mic.focus();
  await alice.keyboard.press('Space');
  await eventually(async () => (await mic.getAttribute('aria-pressed')) === 'true', { timeout: 3000, what: 'mic muted by Space' });
  await alice.keyboard.press('Enter');
  await eventually(async () => (await mic.getAttribute('aria-pressed')) === 'false', { timeout: 3000, what: 'mic unmuted by Enter' });
  // One Tab stop for the toolbar; arrows, Home and End move within it.
  await alice.keyboard.press('ArrowRight');
  assert.equal(await focused(alice), 'camera-toggle');
  await alice.keyboard.press('End');
  assert.equal(await focused(alice), 'leave');
  await alice.keyboard.press('ArrowRight');
  assert.equal(await focused(alice), 'mic', 'arrows wrap around');
  await alice.keyboard.press('ArrowLeft');
  await alice.keyboard.press('Home');
  assert.equal(await focused(alice), 'mic');
  const tabStops = await alice.locator('.controls button').evaluateAll((bs) => bs.filter((b) => b.tabIndex === 0).map((b) => b.id));
  assert.deepEqual(tabStops, ['mic']);
  await alice.keyboard.press('Shift+Tab');
  assert.notEqual(await alice.evaluate(() => document.activeElement?.closest('.controls') !== null), true, 'Shift+Tab leaves the toolbar');
  const pin = alice.getByRole('button', { name: 'Pin Bob' });
  await pin.focus();
  await alice.keyboard.press('Enter');
  await eventually(async () => (await pin.getAttribute('aria-pressed')) === 'true', { timeout: 3000, what: 'Bob pinned by Enter' });
  await alice.keyboard.press('Space');
  await eventually(async () => (await pin.getAttribute('aria-pressed')) === 'false', { timeout: 3000, what: 'Bob unpinned by Space' });
});

step('on a phone-width screen the join screen and the call fit in one column', async () => {
  const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
  const carol = await env.openPage('Carol', undefined, phone);
  await eventually(() => carol.locator('#camera option').count().then((n) => n > 0), { timeout: 10_000, what: 'device list' });
  const noSideScroll = () => carol.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  assert.equal(await noSideScroll(), true, 'join screen scrolls sideways');
  const [preview, form] = await Promise.all([carol.locator('.preview').boundingBox(), carol.locator('#join-form').boundingBox()]);
  assert.ok(preview && form && form.y >= preview.y + preview.height - 1, 'form stacks below the preview');
  await expectNoSerious(carol, 'phone join screen');
  await screenshot(carol, 'a11y-phone-join-screen');
  await joinWithApp(carol, 'Carol', room);
  await eventually(() => carol.locator('#tiles .tile').count().then((n) => n === 2), { timeout: 15_000, what: 'two remote tiles' });
  assert.equal(await noSideScroll(), true, 'call screen scrolls sideways');
  // Three tiles (Carol's own, Alice, Bob) in two columns of half the screen each.
  const widths = await carol.locator('#stage .tile').evaluateAll((tiles) => tiles.map((t) => t.getBoundingClientRect().width));
  assert.ok(widths.every((w) => w > 150 && w < 200), `tile widths on a phone: ${widths}`);
  const leave = carol.getByRole('button', { name: 'Leave' });
  const box = await leave.boundingBox();
  assert.ok(box && box.y + box.height <= 844, `Leave is off screen: ${JSON.stringify(box)}`);
  await expectNoSerious(carol, 'phone call screen');
  await screenshot(carol, 'a11y-phone-call-screen');
});
