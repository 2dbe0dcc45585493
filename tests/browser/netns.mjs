// A network namespace joined to this one by a veth pair, for tests whose browser must sit on a
// network of its own (a capped link, a network that lets nothing but TCP to one server out).
// Needs root and iproute2; `netnsUnsupported()` says why a machine cannot, so the test is
// skipped with the reason rather than failing obscurely. Traffic only ever flows between the
// namespaces the test made.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { chromiumArgs, chromiumBin } from './harness.mjs';

/** @param {string} cmd @param {string[]} args */
export const run = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
/** @param {string} cmd @param {string[]} args */
export const tryRun = (cmd, args) => {
  try {
    return run(cmd, args);
  } catch {
    return '';
  }
};

/** Why this machine cannot make namespaces, or '' if it can. */
export function netnsUnsupported() {
  if (process.platform !== 'linux') return 'needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'needs root (ip netns, veth, tc)';
  for (const bin of ['ip', 'tc']) {
    try {
      run(bin, ['-V']);
    } catch {
      return `needs the ${bin} command (iproute2)`;
    }
  }
  return '';
}

/**
 * @typedef {object} Netns
 * @property {string} ns the namespace's name
 * @property {string} vethRoot this namespace's end of the pair
 * @property {string} vethNs the namespace's end
 * @property {string} rootIp its address (the namespace reaches this machine there)
 * @property {string} nsIp the namespace's end's address
 * @property {string} subnet the /30 both are in
 * @property {() => void} teardown
 * @property {(tmp: string, args: string[]) => Promise<import('playwright-core').Browser>} chromium
 *   headless Chromium running inside the namespace
 */

/**
 * Creates a namespace joined by a veth pair on a free 10.<octet>.x.0/30.
 * @param {string} tag a few letters naming the test (interface names are at most 15 bytes)
 * @param {number} octet second octet of the address range this test uses
 * @returns {Netns}
 */
export function createNetns(tag, octet) {
  const ns = `parley-${tag}-${process.pid}`;
  const vethRoot = `p${tag}${process.pid}r`;
  const vethNs = `p${tag}${process.pid}n`;
  const used = run('ip', ['-o', '-4', 'addr', 'show']);
  const start = process.pid % 200;
  let net = 0;
  for (let i = 0; i < 200 && !net; i++) {
    const n = 16 + ((start + i) % 200);
    if (!used.includes(`10.${octet}.${n}.`)) net = n;
  }
  assert.ok(net, `no free 10.${octet}.x.0/30 network`);
  const rootIp = `10.${octet}.${net}.1`;
  const nsIp = `10.${octet}.${net}.2`;
  let up = true;
  const teardown = () => {
    if (!up) return;
    up = false;
    // Deleting the namespace destroys its end of the pair, and with it the root end.
    tryRun('ip', ['netns', 'del', ns]);
    tryRun('ip', ['link', 'del', vethRoot]);
  };
  process.on('exit', teardown);
  // Interrupted (Ctrl-C, or the runner cancelling): 'exit' handlers run only through exit().
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
    process.once(signal, () => process.exit(code));
  }
  run('ip', ['netns', 'add', ns]);
  run('ip', ['link', 'add', vethRoot, 'type', 'veth', 'peer', 'name', vethNs]);
  run('ip', ['link', 'set', vethNs, 'netns', ns]);
  // IPv4 only: an IPv6 link-local address would appear a moment after the link comes up (DAD),
  // and Chromium aborts every load in flight on such a change (net::ERR_NETWORK_CHANGED), so
  // a page opened then never starts.
  run('sysctl', ['-q', '-w', `net.ipv6.conf.${vethRoot}.disable_ipv6=1`]);
  run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `net.ipv6.conf.${vethNs}.disable_ipv6=1`]);
  run('ip', ['addr', 'add', `${rootIp}/30`, 'dev', vethRoot]);
  run('ip', ['link', 'set', vethRoot, 'up']);
  run('ip', ['-n', ns, 'addr', 'add', `${nsIp}/30`, 'dev', vethNs]);
  run('ip', ['-n', ns, 'link', 'set', vethNs, 'up']);
  run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  return {
    ns, vethRoot, vethNs, rootIp, nsIp, subnet: `10.${octet}.${net}.0/30`, teardown,
    chromium(tmp, args) {
      // The same binary, exec'd inside the namespace (exec keeps the pid, so Playwright's pipe
      // and its kill on close reach Chromium itself).
      const wrapper = path.join(tmp, `chromium-in-${ns}.sh`);
      fs.writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec '${ns}' '${chromiumBin}' "$@"\n`, { mode: 0o755 });
      return chromium.launch({ executablePath: wrapper, args: [...chromiumArgs, ...args], headless: true });
    },
  };
}

/**
 * The namespace's end moves to another address, as a laptop does going from one network to
 * another: it gets `.6` of the next /30 (this machine answers at `.5` and routes to `.1` from
 * there), then loses its old address and every socket bound to it.
 * @param {Netns} n
 * @returns {string} the new address
 */
export function moveToNextAddress(n) {
  const prefix = n.rootIp.split('.').slice(0, 3).join('.');
  const gateway = `${prefix}.5`;
  const next = `${prefix}.6`;
  run('ip', ['addr', 'add', `${gateway}/30`, 'dev', n.vethRoot]);
  run('ip', ['-n', n.ns, 'addr', 'add', `${next}/30`, 'dev', n.vethNs]);
  run('ip', ['-n', n.ns, 'route', 'add', 'default', 'via', gateway]);
  run('ip', ['-n', n.ns, 'addr', 'del', `${n.nsIp}/30`, 'dev', n.vethNs]);
  return next;
}

/**
 * Chromium inside the namespace with the server's app open, reached at this machine's veth
 * address (`--unsafely-treat-insecure-origin-as-secure`: getUserMedia needs a secure context,
 * which localhost is and the veth address is not).
 * @param {Netns} n
 * @param {{httpPort: number, tmp: string}} server
 * @returns {Promise<{browser: import('playwright-core').Browser, page: import('playwright-core').Page}>}
 */
export async function openAppInNetns(n, server) {
  const origin = `http://${n.rootIp}:${server.httpPort}`;
  const browser = await n.chromium(server.tmp, [`--unsafely-treat-insecure-origin-as-secure=${origin}`]);
  const context = await browser.newContext();
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  return { browser, page };
}
