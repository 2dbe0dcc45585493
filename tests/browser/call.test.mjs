// End to end: three Chromium pages join one room through a real Parley server and check that
// media flows through the SFU's UDP port. Run with `node --test` in this directory.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const serverBin = process.env.PARLEY_BIN ?? path.join(repo, 'target', 'debug', 'parley');
const chromiumBin = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-browser-'));
const logPath = path.join(tmp, 'server.log');
const room = `call-${process.pid}`;

/** @type {import('node:child_process').ChildProcess | undefined} */
let server;
/** @type {import('playwright-core').Browser | undefined} */
let browser;
let httpPort = 0;
let udpPort = 0;
let baseUrl = '';
let failed = false;
/** @type {Record<string, {page: import('playwright-core').Page, identity: string, log: string[]}>} */
const users = {};

/** @param {'tcp' | 'udp'} proto @returns {Promise<number>} */
function freePort(proto) {
  return new Promise((resolve, reject) => {
    if (proto === 'udp') {
      const sock = dgram.createSocket('udp4');
      sock.on('error', reject);
      sock.bind(0, '127.0.0.1', () => {
        const { port } = sock.address();
        sock.close(() => resolve(port));
      });
    } else {
      const srv = net.createServer();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = /** @type {net.AddressInfo} */ (srv.address());
        srv.close(() => resolve(addr.port));
      });
    }
  });
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `fn` until it returns a truthy value, or fail with the last error after `timeout` ms.
 * @template T
 * @param {() => Promise<T>} fn
 * @param {{timeout: number, interval?: number, what: string}} opts
 * @returns {Promise<T>}
 */
async function eventually(fn, { timeout, interval = 250, what }) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = new Error(`last result ${JSON.stringify(v)}`);
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}: ${last?.message ?? last}`);
    }
    await sleep(interval);
  }
}

function logTail(lines = 60) {
  try {
    return fs.readFileSync(logPath, 'utf8').split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(no server log: ${err.message})`;
  }
}

/** Run a step only if the ones before passed: later steps would only time out. */
function step(name, fn, timeout = 30_000) {
  test(name, { timeout }, async (t) => {
    if (failed) return t.skip('an earlier step failed');
    // Set before running, cleared after: a step cancelled by its timeout still counts as failed.
    failed = true;
    await fn();
    failed = false;
  });
}

/** @param {string} name @returns {Promise<void>} */
async function openAndJoin(name) {
  assert.ok(browser);
  const context = await browser.newContext();
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const log = [];
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
  await page.goto(baseUrl);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Room').fill(room);
  await page.getByRole('button', { name: 'Join' }).click();
  users[name] = { page, identity: '', log };
  await page.waitForFunction(() => ['joined', 'error', 'left'].includes(document.body.dataset.state), null,
    { timeout: 15_000 });
  const state = await page.evaluate(() => document.body.dataset.state);
  const status = await page.getByRole('status').textContent();
  assert.equal(state, 'joined', `${name} did not join: ${status}`);
  users[name].identity = await page.evaluate(() => window.parleyClient.identity);
}

/** @param {string} viewer @param {string} other */
function tileOf(viewer, other) {
  return users[viewer].page.locator(`#tiles .tile[data-identity="${users[other].identity}"]`);
}

/** @param {string} name @param {'publisherPc' | 'subscriberPc'} pc */
function stats(name, pc) {
  return users[name].page.evaluate(async (which) => {
    const conn = window.parleyClient[which];
    if (!conn) throw new Error(`${which} does not exist`);
    return [...(await conn.getStats()).values()];
  }, pc);
}

/** The inbound-rtp fields worth printing when media does not flow. */
function summary({ kind, ssrc, packetsReceived, bytesReceived, framesDecoded, frameWidth }) {
  return { kind, ssrc, packetsReceived, bytesReceived, framesDecoded, frameWidth };
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

before(async () => {
  failed = true; // until the server is up, so the log gets printed
  assert.ok(fs.existsSync(serverBin), `server binary ${serverBin} not found (build it or set PARLEY_BIN)`);
  httpPort = await freePort('tcp');
  udpPort = await freePort('udp');
  baseUrl = `http://127.0.0.1:${httpPort}/`;
  const log = fs.openSync(logPath, 'a');
  server = spawn(
    serverBin,
    ['--http-addr', `127.0.0.1:${httpPort}`, '--udp-port', String(udpPort), '--public-ip', '127.0.0.1',
      '--data-dir', path.join(tmp, 'data')],
    { stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  // Whatever happens to this process, do not leave a server holding the ports.
  process.on('exit', () => server?.kill('SIGKILL'));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Error(`server exited early (${server.signalCode ?? server.exitCode}); log: ${logPath}`);
    }
    const status = await fetch(`${baseUrl}healthz`, { signal: AbortSignal.timeout(2000) })
      .then((r) => r.status, () => 0);
    if (status === 200) break;
    if (Date.now() > deadline) throw new Error(`GET /healthz did not return 200 within 20 s (last: ${status})`);
    await sleep(200);
  }
  browser = await chromium.launch({ executablePath: chromiumBin, args: chromiumArgs, headless: true });
  failed = false;
}, { timeout: 60_000 });

after(async () => {
  await browser?.close().catch(() => {});
  if (server && server.exitCode === null && server.signalCode === null) {
    const gone = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    if (await Promise.race([gone.then(() => true), sleep(5000)]) !== true) server.kill('SIGKILL');
  }
  if (failed) {
    console.error(`\n--- server log tail (${logPath}) ---\n${logTail()}`);
    for (const [name, u] of Object.entries(users)) {
      console.error(`--- ${name} console (last 30) ---\n${u.log.slice(-30).join('\n')}`);
    }
  } else {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

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
      assert.equal(remote.port, udpPort, `${name} ${pc}: remote candidate ${JSON.stringify(remote)}`);
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
