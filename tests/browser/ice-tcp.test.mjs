// ICE-TCP end to end: Bob's Chromium sits in a network namespace that lets no UDP out (a
// routing rule prohibits every UDP packet leaving it, as a hospital or corporate firewall
// would), with no TURN server configured. The server advertises the veth address beside
// 127.0.0.1, with UDP and passive TCP candidates; Bob's connections can only come up over
// ICE-TCP to the server itself. Alice, on this machine, connects over UDP. Both must decode
// each other's video, and the server and the SDK must say which path each one took. Run with
// `node --test ice-tcp.test.mjs` here.
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { clientStats, eventually, joinWithApp, suite, summary } from './harness.mjs';
import { createNetns, netnsUnsupported, run } from './netns.mjs';

const room = `icetcp-${process.pid}`;
/** @type {import('./netns.mjs').Netns | undefined} */
let netns;
/** The Chromium inside Bob's namespace. @type {import('playwright-core').Browser | undefined} */
let nsBrowser;

// Registered before the suite's own `before`, so the server starts advertising the veth address.
const serverOptions = { listen: '0.0.0.0', publicIp: '127.0.0.1' };
before(() => {
  const why = netnsUnsupported();
  assert.equal(why, '', `this test needs network namespaces: ${why}`);
  netns = createNetns('it', 215);
  // Every UDP packet that would leave the namespace is refused (its own loopback stays).
  run('ip', ['-n', netns.ns, 'rule', 'add', 'ipproto', 'udp', 'prohibit']);
  serverOptions.publicIp = `127.0.0.1,${netns.rootIp}`;
});

const env = suite('ice-tcp', serverOptions);
const { step } = env;

after(async () => {
  await nsBrowser?.close().catch(() => {});
  netns?.teardown();
});

/** @type {Record<string, import('playwright-core').Page>} */
const pages = {};

/** The local candidate of the pair ICE selected on one of a page's connections. */
async function selectedLocal(/** @type {string} */ name, /** @type {'publisherPc' | 'subscriberPc'} */ pc) {
  const report = await clientStats(pages[name], pc);
  const byId = new Map(report.map((s) => [s.id, s]));
  const transport = report.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  const pair = transport && byId.get(transport.selectedCandidatePairId);
  return pair && byId.get(pair.localCandidateId);
}

/** Waits for a page's first decoded video frame from the other side. */
function firstFrame(/** @type {string} */ name) {
  return eventually(async () => {
    const rtp = (await clientStats(pages[name], 'subscriberPc')).filter((s) => s.type === 'inbound-rtp');
    const ok = rtp.some((s) => s.kind === 'video' && s.framesDecoded > 0 && s.frameWidth > 0);
    if (!ok) throw new Error(`inbound-rtp: ${JSON.stringify(rtp.map(summary))}`);
    return ok;
  }, { timeout: 30_000, what: `${name}: first decoded video frame` });
}

step('Bob, whose network lets no UDP out, joins over ICE-TCP; Alice over UDP; both decode', async () => {
  assert.ok(netns && env.server);
  pages.Alice = await env.openPage('Alice');
  await joinWithApp(pages.Alice, 'Alice', room);
  const origin = `http://${netns.rootIp}:${env.server.httpPort}`;
  // getUserMedia needs a secure context: localhost is one, the veth address is not.
  nsBrowser = await netns.chromium(env.server.tmp, [`--unsafely-treat-insecure-origin-as-secure=${origin}`]);
  const context = await nsBrowser.newContext();
  context.setDefaultTimeout(15_000);
  pages.Bob = await context.newPage();
  await pages.Bob.goto(`${origin}/`);
  const joining = Date.now();
  await joinWithApp(pages.Bob, 'Bob', room);
  await firstFrame('Bob');
  console.log(`MEASURED: ICE-TCP: Bob's first decoded frame ${Date.now() - joining} ms after his join`);
  await firstFrame('Alice');
}, 90_000);

step("Bob's connections run over TCP to the server itself; Alice's over UDP", async () => {
  for (const pc of /** @type {const} */ (['publisherPc', 'subscriberPc'])) {
    const bob = await selectedLocal('Bob', pc);
    assert.equal(bob?.protocol, 'tcp', `Bob's ${pc}: ${JSON.stringify(bob)}`);
    assert.notEqual(bob?.candidateType, 'relay', `Bob's ${pc}: ${JSON.stringify(bob)}`);
    const alice = await selectedLocal('Alice', pc);
    assert.equal(alice?.protocol, 'udp', `Alice's ${pc}: ${JSON.stringify(alice)}`);
  }
  await eventually(async () => {
    const text = await (await fetch(`${env.server?.baseUrl}metrics`)).text();
    const count = (/** @type {string} */ t) => Number(text.match(new RegExp(`parley_peer_connections_by_transport\\{transport="${t}"\\} (\\d+)`))?.[1] ?? 0);
    const open = Number(text.match(/^parley_tcp_connections (\d+)/m)?.[1] ?? 0);
    if (count('tcp') < 2 || count('udp') < 2 || open < 2) throw new Error(`tcp ${count('tcp')}, udp ${count('udp')}, open TCP connections ${open}`);
    return true;
  }, { timeout: 5_000, what: "the server counts Bob's two connections as TCP, Alice's as UDP" });
  for (const [name, want] of [['Bob', 'tcp'], ['Alice', 'udp']]) {
    await eventually(async () => {
      const path = await pages[name].evaluate(() => window.parleyClient.connectionQuality(window.parleyClient.you.sid)?.path);
      if (path !== want) throw new Error(`path ${path}`);
      return true;
    }, { timeout: 10_000, what: `${name}'s connectionQuality path is ${want}` });
  }
});

step('video keeps flowing both ways over TCP', async () => {
  for (const name of ['Bob', 'Alice']) {
    const decoded = async () => (await clientStats(pages[name], 'subscriberPc'))
      .filter((s) => s.type === 'inbound-rtp' && s.kind === 'video')
      .reduce((n, s) => n + (s.framesDecoded ?? 0), 0);
    const start = await decoded();
    await eventually(async () => {
      const now = await decoded();
      if (now < start + 20) throw new Error(`${now - start} frames since`);
      return true;
    }, { timeout: 5_000, what: `${name}: 20 more frames` });
  }
});
