// ICE-TCP end to end: Bob's Chromium sits in a network namespace that lets no UDP out (a
// routing rule prohibits every UDP packet leaving it, as a hospital or corporate firewall
// would), with no TURN server configured. The server advertises the veth address beside
// 127.0.0.1, with UDP and passive TCP candidates; Bob's connections can only come up over
// ICE-TCP to the server itself. Alice, on this machine, connects over UDP. Both must decode
// each other's video, and the server and the SDK must say which path each one took. Run with
// `node --test ice-tcp.test.mjs` here.
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { eventually, joinWithApp, suite } from './harness.mjs';
import { firstDecodedFrame, moreFrames, sdkPath, selectedLocalCandidate, serverTransports } from './paths.mjs';
import { createNetns, netnsUnsupported, run, openAppInNetns } from './netns.mjs';

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

step('Bob, whose network lets no UDP out, joins over ICE-TCP; Alice over UDP; both decode', async () => {
  assert.ok(netns && env.server);
  pages.Alice = await env.openPage('Alice');
  await joinWithApp(pages.Alice, 'Alice', room);
  ({ browser: nsBrowser, page: pages.Bob } = await openAppInNetns(netns, env.server));
  const joining = Date.now();
  await joinWithApp(pages.Bob, 'Bob', room);
  await firstDecodedFrame(pages.Bob, 'Bob');
  console.log(`MEASURED: ICE-TCP: Bob's first decoded frame ${Date.now() - joining} ms after his join`);
  await firstDecodedFrame(pages.Alice, 'Alice');
}, 90_000);

step("Bob's connections run over TCP to the server itself; Alice's over UDP", async () => {
  for (const pc of /** @type {const} */ (['publisherPc', 'subscriberPc'])) {
    const bob = await selectedLocalCandidate(pages.Bob, pc);
    assert.equal(bob?.protocol, 'tcp', `Bob's ${pc}: ${JSON.stringify(bob)}`);
    assert.notEqual(bob?.candidateType, 'relay', `Bob's ${pc}: ${JSON.stringify(bob)}`);
    const alice = await selectedLocalCandidate(pages.Alice, pc);
    assert.equal(alice?.protocol, 'udp', `Alice's ${pc}: ${JSON.stringify(alice)}`);
  }
  await eventually(async () => {
    const { tcp, udp, tcpConnections } = await serverTransports(env.server?.baseUrl ?? '');
    if (tcp < 2 || udp < 2 || tcpConnections < 2) throw new Error(`tcp ${tcp}, udp ${udp}, open TCP connections ${tcpConnections}`);
    return true;
  }, { timeout: 5_000, what: "the server counts Bob's two connections as TCP, Alice's as UDP" });
  await sdkPath(pages.Bob, 'Bob', 'tcp');
  await sdkPath(pages.Alice, 'Alice', 'udp');
});

step('video keeps flowing both ways over TCP', async () => {
  for (const name of ['Bob', 'Alice']) await moreFrames(pages[name], 20, `${name}: 20 more frames`);
});
