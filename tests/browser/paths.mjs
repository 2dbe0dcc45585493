// How a page's media travels, for the tests that put a browser on a restricted network
// (turn.test.mjs, ice-tcp.test.mjs): the candidate ICE selected, what the server counts, what
// the SDK reports, and whether video is being decoded.
import { clientStats, eventually, summary } from './harness.mjs';

/**
 * The local candidate of the pair ICE selected on one of a page's connections.
 * @param {import('playwright-core').Page} page @param {'publisherPc' | 'subscriberPc'} pc
 */
export async function selectedLocalCandidate(page, pc) {
  const report = await clientStats(page, pc);
  const byId = new Map(report.map((s) => [s.id, s]));
  const transport = report.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  const pair = transport && byId.get(transport.selectedCandidatePairId);
  return pair && byId.get(pair.localCandidateId);
}

/** Video frames a page decoded so far. @param {import('playwright-core').Page} page */
export async function decodedVideoFrames(page) {
  return (await clientStats(page, 'subscriberPc'))
    .filter((s) => s.type === 'inbound-rtp' && s.kind === 'video')
    .reduce((n, s) => n + (s.framesDecoded ?? 0), 0);
}

/** Waits for a page's first decoded video frame. @param {import('playwright-core').Page} page @param {string} name */
export function firstDecodedFrame(page, name) {
  return eventually(async () => {
    const rtp = (await clientStats(page, 'subscriberPc')).filter((s) => s.type === 'inbound-rtp');
    const ok = rtp.some((s) => s.kind === 'video' && s.framesDecoded > 0 && s.frameWidth > 0);
    if (!ok) throw new Error(`inbound-rtp: ${JSON.stringify(rtp.map(summary))}`);
    return ok;
  }, { timeout: 30_000, what: `${name}: first decoded video frame` });
}

/** Waits for `count` more decoded frames. @param {import('playwright-core').Page} page @param {string} what */
export async function moreFrames(page, count, what) {
  const start = await decodedVideoFrames(page);
  await eventually(async () => {
    const now = await decodedVideoFrames(page);
    if (now < start + count) throw new Error(`${now - start} frames since`);
    return true;
  }, { timeout: 5_000, what });
}

/**
 * The server's connected peer connections by transport, and its open ICE-TCP connections.
 * @param {string} baseUrl
 * @returns {Promise<{udp: number, tcp: number, relay: number, tcpConnections: number}>}
 */
export async function serverTransports(baseUrl) {
  const text = await (await fetch(`${baseUrl}metrics`)).text();
  const count = (/** @type {string} */ t) => Number(text.match(new RegExp(`parley_peer_connections_by_transport\\{transport="${t}"\\} (\\d+)`))?.[1] ?? 0);
  const tcpConnections = Number(text.match(/^parley_tcp_connections (\d+)/m)?.[1] ?? 0);
  return { udp: count('udp'), tcp: count('tcp'), relay: count('relay'), tcpConnections };
}

/** Waits until the SDK reports `want` as the page's own path. @param {import('playwright-core').Page} page @param {string} name @param {string} want */
export function sdkPath(page, name, want) {
  return eventually(async () => {
    const path = await page.evaluate(() => window.parleyClient.connectionQuality(window.parleyClient.you.sid)?.path);
    if (path !== want) throw new Error(`path ${path}`);
    return true;
  }, { timeout: 10_000, what: `${name}'s connectionQuality path is ${want}` });
}
