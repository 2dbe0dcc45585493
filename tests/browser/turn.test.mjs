// Through TURN end to end: Bob's Chromium sits in a network namespace from which the server's
// media port cannot be reached (the server advertises only 127.0.0.1, which in Bob's namespace
// is his own loopback) and from which coturn is reachable only over TCP (it listens on the veth
// address without UDP). The page gets coturn with fresh credentials in `joined.ice_servers`, so
// Bob's connections can only come up as TURN-over-TCP relays; Alice, on this machine, connects
// directly. Both must decode each other's video. Run with `node --test turn.test.mjs` here.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, after } from 'node:test';
import { eventually, freePort, joinWithApp, suite } from './harness.mjs';
import { firstDecodedFrame, moreFrames, sdkPath, selectedLocalCandidate, serverTransports } from './paths.mjs';
import { createNetns, netnsUnsupported, openAppInNetns } from './netns.mjs';

const SECRET = `turn-browser-test-${process.pid}`;
const room = `turn-${process.pid}`;
/** @type {import('./netns.mjs').Netns | undefined} */
let netns;
/** @type {import('node:child_process').ChildProcess | undefined} */
let coturn;
let coturnDir = '';
let coturnPort = 0;
/** The Chromium inside Bob's namespace. @type {import('playwright-core').Browser | undefined} */
let nsBrowser;

// Registered before the suite's own `before`, so the server starts knowing coturn.
const serverOptions = { listen: '0.0.0.0', env: /** @type {Record<string, string>} */ ({}) };
before(async () => {
  const why = netnsUnsupported();
  assert.equal(why, '', `this test needs network namespaces: ${why}`);
  netns = createNetns('tn', 214);
  coturnDir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-turn-'));
  coturnPort = await freePort('tcp');
  coturn = spawn('turnserver', [
    '-n', `--listening-ip=${netns.rootIp}`, `--listening-port=${coturnPort}`, '--no-udp',
    '--relay-ip=127.0.0.1', '--min-port=49160', '--max-port=49660',
    '--use-auth-secret', `--static-auth-secret=${SECRET}`, '--realm=parley.test',
    '--no-tls', '--no-dtls', '--no-cli', '--allow-loopback-peers', '--fingerprint', '--verbose',
    '--simple-log', `--log-file=${path.join(coturnDir, 'turn.log')}`,
    `--pidfile=${path.join(coturnDir, 'turn.pid')}`, `--userdb=${path.join(coturnDir, 'turndb')}`,
  ], { stdio: 'ignore' });
  process.on('exit', () => coturn?.kill('SIGKILL'));
  serverOptions.env.PARLEY_TURN_URL = `turn:${netns.rootIp}:${coturnPort}?transport=tcp`;
  serverOptions.env.PARLEY_TURN_SECRET = SECRET;
}, { timeout: 30_000 });

const env = suite('turn', serverOptions);
const { step } = env;

after(async () => {
  await nsBrowser?.close().catch(() => {});
  coturn?.kill('SIGKILL');
  netns?.teardown();
  if (env.failed) console.error(`--- coturn log ---\n${coturnLog().split('\n').slice(-40).join('\n')}`);
  else if (coturnDir) fs.rmSync(coturnDir, { recursive: true, force: true });
});

const coturnLog = () => {
  try {
    return fs.readFileSync(path.join(coturnDir, 'turn.log'), 'utf8');
  } catch {
    return '(no coturn log)';
  }
};

/** @type {Record<string, import('playwright-core').Page>} */
const pages = {};

step('Alice joins directly; Bob, who can reach only coturn over TCP, joins through it; both decode', async () => {
  assert.ok(netns && env.server);
  pages.Alice = await env.openPage('Alice');
  await joinWithApp(pages.Alice, 'Alice', room);
  ({ browser: nsBrowser, page: pages.Bob } = await openAppInNetns(netns, env.server));
  const joining = Date.now();
  await joinWithApp(pages.Bob, 'Bob', room);
  await firstDecodedFrame(pages.Bob, 'Bob');
  console.log(`MEASURED: TURN over TCP: Bob's first decoded frame ${Date.now() - joining} ms after his join`);
  await firstDecodedFrame(pages.Alice, 'Alice');
}, 90_000);

step("Bob's connections are TCP relays through coturn; Alice's are direct", async () => {
  for (const pc of /** @type {const} */ (['publisherPc', 'subscriberPc'])) {
    const bob = await selectedLocalCandidate(pages.Bob, pc);
    assert.equal(bob?.candidateType, 'relay', `Bob's ${pc}: ${JSON.stringify(bob)}`);
    assert.equal(bob?.relayProtocol, 'tcp', `Bob's ${pc}: ${JSON.stringify(bob)}`);
    const alice = await selectedLocalCandidate(pages.Alice, pc);
    assert.equal(alice?.candidateType, 'host', `Alice's ${pc}: ${JSON.stringify(alice)}`);
  }
  await eventually(async () => {
    const { relay, udp } = await serverTransports(env.server?.baseUrl ?? '');
    if (relay < 2 || udp < 2) throw new Error(`relay ${relay}, udp ${udp}`);
    return true;
  }, { timeout: 5_000, what: 'the server counts Bob\'s two connections as relayed, Alice\'s as direct' });
  // The app can tell: the SDK's own connection quality carries the path.
  await sdkPath(pages.Bob, 'Bob', 'relay');
  await sdkPath(pages.Alice, 'Alice', 'udp');
  const log = coturnLog();
  assert.ok((log.match(/ALLOCATE processed, success/g) ?? []).length >= 2, 'coturn allocated relays for Bob');
  assert.ok(!/Bob|Alice/.test(log), 'no name or identity reaches the TURN server');
});

step('video keeps flowing to Bob through the relay', async () => {
  await moreFrames(pages.Bob, 20, 'Bob: 20 more frames through coturn');
});
