// Shared pieces of the browser tests: Chromium (playwright-core), Firefox (puppeteer-core over
// WebDriver BiDi), free ports, a Parley server per test file, and `suite()`, which wires them
// into node:test hooks with "skip after a failure" steps.
// node --test runs each *.test.mjs in its own process (possibly in parallel), so every file
// starts its own server on ports picked free at start-up.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const serverBin = process.env.PARLEY_BIN ?? path.join(repo, 'target', 'debug', 'parley');
export const chromiumBin = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Three fake cameras (and Chromium's three fake microphones), so device pickers have a choice.
  // Chromium rotates their pixel formats: fake_device_1 delivers Y16 depth frames, which WebRTC
  // does not encode; fake_device_2 (MJPEG) is the one to switch to.
  '--use-fake-device-for-media-stream=device-count=3',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
];

export const firefoxBin = process.env.FIREFOX_BIN ?? '/usr/bin/firefox-esr';
/** A fresh profile per launch (puppeteer makes one) with these on top of puppeteer's own. */
export const firefoxPrefs = {
  // A fake camera (1280x720 when asked for it) and microphone (a tone), with no prompt.
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  // Gather host candidates on loopback, the only address the test server listens on, and name
  // them by address rather than by an mDNS `.local` name.
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  // Without a camera/microphone permission Firefox gathers only the default route's address
  // (never loopback), and capturing the fake devices does not count as one: allow both for
  // every site instead.
  'permissions.default.camera': 1,
  'permissions.default.microphone': 1,
  'media.peerconnection.ice.tcp': false,
  // Received video plays without a click.
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  // No update checks, telemetry or first-run pages competing for two cores.
  'app.update.disabledForTesting': true,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.reportingpolicy.firstRun': false,
  'browser.shell.checkDefaultBrowser': false,
};

/** @param {'tcp' | 'udp'} proto @returns {Promise<number>} */
export function freePort(proto) {
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

export const artifactsDir = path.join(repo, 'tests', 'browser', 'artifacts');

/**
 * Save a full-page screenshot as `artifacts/<name>.png` (gitignored; CI keeps them).
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
export async function screenshot(page, name) {
  fs.mkdirSync(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${name.replace(/[^\w.-]+/g, '-')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Run axe-core (from node_modules, evaluated in the page) on the page and return the violations
 * of impact serious or critical, with the offending elements.
 * @param {import('playwright-core').Page} page
 * @param {string} [include] CSS selector to limit the check to
 */
export async function seriousA11yViolations(page, include) {
  const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
  // Evaluated rather than added as a <script>: the app's CSP admits only its own scripts.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(fs.readFileSync(axePath, 'utf8'));
  const result = await page.evaluate(async (sel) => {
    // @ts-ignore injected above
    const r = await window.axe.run(sel ? { include: [sel] } : document, { resultTypes: ['violations'] });
    return r.violations.map((/** @type {any} */ v) => ({
      id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((/** @type {any} */ n) => n.target.join(' ')).slice(0, 5),
    }));
  }, include ?? null);
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Replace the test's own style rules on `page` (`null` removes them). A constructed stylesheet,
 * not a <style> tag: the app's CSP admits only its own styles, and CSSOM is not inline style.
 * @param {{evaluate: Function}} page a Playwright or Puppeteer page
 * @param {string | null} css
 */
export async function setTestStyle(page, css) {
  await page.evaluate((/** @type {string} */ text) => {
    const w = /** @type {any} */ (window);
    if (!w.testSheet) {
      w.testSheet = new CSSStyleSheet();
      document.adoptedStyleSheets = [...document.adoptedStyleSheets, w.testSheet];
    }
    w.testSheet.replaceSync(text);
  }, css ?? '');
}

/**
 * Poll `fn` until it returns a truthy value, or fail with the last error after `timeout` ms.
 * @template T
 * @param {() => Promise<T>} fn
 * @param {{timeout: number, interval?: number, what: string}} opts
 * @returns {Promise<T>}
 */
export async function eventually(fn, { timeout, interval = 250, what }) {
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

/**
 * @typedef {object} Server
 * @property {import('node:child_process').ChildProcess} child
 * @property {number} httpPort
 * @property {number} udpPort
 * @property {string} baseUrl `http://127.0.0.1:<httpPort>/`
 * @property {string} tmp its scratch directory (log and data dir)
 * @property {string} logPath
 * @property {(lines?: number) => string} logTail
 * @property {() => Promise<void>} stop SIGTERM, then SIGKILL after 5 s
 * @property {() => Promise<void>} restart stop, then start again on the same ports and data dir
 */

/**
 * Start the server on free ports with its own data dir and log file, and wait for /healthz.
 * On failure the server is stopped again and the error carries the log tail.
 * @param {string} prefix names the scratch directory
 * @param {{env?: Record<string, string>, listen?: string, publicIp?: string}} [options] extra
 *   environment (e.g. `PARLEY_JWT_SECRET`); `publicIp`: the media addresses advertised
 *   (comma-separated; default 127.0.0.1); `listen`: the HTTP listener's address (default 127.0.0.1; 0.0.0.0 for
 *   browsers in another network namespace)
 * @returns {Promise<Server>}
 */
export async function startServer(prefix, options = {}) {
  assert.ok(fs.existsSync(serverBin), `server binary ${serverBin} not found (build it or set PARLEY_BIN)`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `parley-${prefix}-`));
  const logPath = path.join(tmp, 'server.log');
  const httpPort = await freePort('tcp');
  const udpPort = await freePort('udp');
  const baseUrl = `http://127.0.0.1:${httpPort}/`;
  const launch = () => {
    const log = fs.openSync(logPath, 'a');
    const proc = spawn(
      serverBin,
      ['--http-addr', `${options.listen ?? '127.0.0.1'}:${httpPort}`, '--udp-port', String(udpPort), '--tcp-port', '0', '--public-ip', options.publicIp ?? '127.0.0.1',
        '--data-dir', path.join(tmp, 'data'), '--guest-tokens'],
      { stdio: ['ignore', log, log], env: { ...process.env, ...options.env } },
    );
    fs.closeSync(log);
    // Whatever happens to this process, do not leave a server holding the ports.
    process.on('exit', () => proc.kill('SIGKILL'));
    return proc;
  };
  const running = () => server.child.exitCode === null && server.child.signalCode === null;
  /** @type {Server} */
  const server = {
    child: launch(), httpPort, udpPort, baseUrl, tmp, logPath,
    logTail(lines = 60) {
      try {
        return fs.readFileSync(logPath, 'utf8').split('\n').slice(-lines).join('\n');
      } catch (err) {
        return `(no server log: ${err.message})`;
      }
    },
    async stop() {
      const child = server.child;
      if (!running()) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      if (await Promise.race([gone.then(() => true), sleep(5000)]) !== true) {
        child.kill('SIGKILL');
        await gone;
      }
    },
    async restart() {
      await server.stop();
      server.child = launch();
      await healthy();
    },
  };
  const healthy = async () => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (!running()) {
        throw new Error(`server exited early (${server.child.signalCode ?? server.child.exitCode}); log: ${logPath}`);
      }
      const status = await fetch(`${baseUrl}healthz`, { signal: AbortSignal.timeout(2000) })
        .then((r) => r.status, () => 0);
      if (status === 200) return;
      if (Date.now() > deadline) throw new Error(`GET /healthz did not return 200 within 20 s (last: ${status})`);
      await sleep(200);
    }
  };
  try {
    await healthy();
  } catch (err) {
    await server.stop();
    err.message += `\n--- server log tail (${logPath}) ---\n${server.logTail()}`;
    throw err;
  }
  return server;
}

/** @returns {Promise<import('playwright-core').Browser>} */
export function launchBrowser() {
  return chromium.launch({ executablePath: chromiumBin, args: chromiumArgs, headless: true });
}

/**
 * Headless Firefox ESR (Debian's), driven over WebDriver BiDi; nothing is downloaded.
 * @returns {Promise<import('puppeteer-core').Browser>}
 */
export function launchFirefox() {
  assert.ok(fs.existsSync(firefoxBin), `Firefox ${firefoxBin} not found (apt-get install firefox-esr, or set FIREFOX_BIN)`);
  return puppeteer.launch({
    browser: 'firefox',
    protocol: 'webDriverBiDi',
    executablePath: firefoxBin,
    headless: true,
    extraPrefsFirefox: firefoxPrefs,
    // Starting Firefox on a loaded two-core machine can take a while.
    timeout: 60_000,
    protocolTimeout: 60_000,
  });
}

/**
 * @typedef {object} Suite
 * @property {Server | undefined} server set by the `before` hook
 * @property {import('playwright-core').Browser | undefined} browser set by the `before` hook
 * @property {import('puppeteer-core').Browser | undefined} firefox set by the `before` hook
 *   when the suite asked for Firefox
 * @property {boolean} failed
 * @property {(name: string, fn: (t: import('node:test').TestContext) => Promise<void>, timeout?: number) => void} step
 * @property {(label: string, url?: string, contextOptions?: import('playwright-core').BrowserContextOptions) => Promise<import('playwright-core').Page>} openPage
 * @property {(label: string, url?: string) => Promise<import('puppeteer-core').Page>} openFirefoxPage
 */

/**
 * Register `before`/`after` hooks that start a server and a browser for this test file, and stop
 * both afterwards. If anything failed, `after` prints the server log tail and every page's
 * console (pages opened with `openPage`) and keeps the scratch directory.
 * @param {string} prefix names the scratch directory
 * @param {{env?: Record<string, string>, listen?: string, publicIp?: string, firefox?: boolean}} [options] `env`: passed to
 *   `startServer`; `firefox`: start Firefox too (pages from `openFirefoxPage`)
 * @returns {Suite}
 */
export function suite(prefix, options = {}) {
  /** @type {Map<string, string[]>} */
  const consoles = new Map();
  /** @type {Suite} */
  const s = {
    server: undefined,
    browser: undefined,
    firefox: undefined,
    failed: false,
    /** Run a step only if the ones before passed: later steps would only time out. */
    step(name, fn, timeout = 30_000) {
      test(name, { timeout }, async (t) => {
        if (s.failed) return t.skip('an earlier step failed');
        // Set before running, cleared after: a step cancelled by its timeout still counts as failed.
        s.failed = true;
        await fn(t);
        s.failed = false;
      });
    },
    /** A page in its own browser context, its console kept under `label` for failure reports. */
    async openPage(label, url = s.server?.baseUrl, contextOptions = {}) {
      assert.ok(s.browser && url);
      const context = await s.browser.newContext(contextOptions);
      context.setDefaultTimeout(15_000);
      const page = await context.newPage();
      const log = [];
      consoles.set(label, log);
      page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => log.push(`[pageerror] ${e.message}`));
      await page.goto(url);
      return page;
    },
    /** A Firefox page in its own user context (cookies, storage), console kept under `label`. */
    async openFirefoxPage(label, url = s.server?.baseUrl) {
      assert.ok(s.firefox && url, 'this suite did not start Firefox (suite(prefix, {firefox: true}))');
      const context = await s.firefox.createBrowserContext();
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      const log = [];
      consoles.set(label, log);
      page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => log.push(`[pageerror] ${e instanceof Error ? e.message : e}`));
      await page.goto(url);
      return page;
    },
  };

  before(async () => {
    s.failed = true; // until all are up, so the log gets printed
    s.server = await startServer(prefix, options);
    s.browser = await launchBrowser();
    if (options.firefox) s.firefox = await launchFirefox();
    s.failed = false;
  }, { timeout: options.firefox ? 120_000 : 60_000 });

  after(async () => {
    await s.browser?.close().catch(() => {});
    await s.firefox?.close().catch(() => {});
    await s.server?.stop();
    if (s.failed) {
      if (s.server) console.error(`\n--- server log tail (${s.server.logPath}) ---\n${s.server.logTail()}`);
      for (const [label, log] of consoles) {
        console.error(`--- ${label} console (last 30) ---\n${log.slice(-30).join('\n')}`);
      }
    } else if (s.server) {
      fs.rmSync(s.server.tmp, { recursive: true, force: true });
    }
  });

  return s;
}

/**
 * Join `room` as `name` through the bundled app's form; returns the client's identity.
 * @param {import('playwright-core').Page | import('puppeteer-core').Page} page on the app's
 *   page: Chromium's (playwright) or Firefox's (puppeteer)
 * @param {string} name
 * @param {string} room
 * @returns {Promise<string>}
 */
export async function joinWithApp(page, name, room) {
  const settled = () => ['joined', 'error', 'left'].includes(document.body.dataset.state);
  const since = Date.now();
  try {
    if ('getByLabel' in page) {
      await page.getByLabel('Name').fill(name);
      await page.getByLabel('Room').fill(room);
      await page.getByRole('button', { name: 'Join' }).click();
      // Past the SDK's 20 s request timeout, so a request the server never answers shows up as
      // the page's own error (naming the request) rather than as this wait running out.
      await page.waitForFunction(settled, null, { timeout: 25_000 });
    } else {
      await page.locator('#name').fill(name);
      await page.locator('#room').fill(room);
      await page.locator('#join').click();
      await page.waitForFunction(settled, { timeout: 25_000, polling: 200 });
    }
  } catch (err) {
    // Say which phase of the join stalled (camera, token, socket, join or publish).
    const where = await page.evaluate(() => ({
      state: document.body.dataset.state,
      status: document.getElementById('status')?.textContent,
      publisher: window.parleyClient?.publisherPc
        && `${window.parleyClient.publisherPc.signalingState}/${window.parleyClient.publisherPc.connectionState}`,
    })).catch((e) => `(page unreadable: ${e.message})`);
    err.message += `\n${name} after ${Date.now() - since} ms: ${JSON.stringify(where)}`;
    throw err;
  }
  const state = await page.evaluate(() => document.body.dataset.state);
  const status = await page.evaluate(() => document.getElementById('status')?.textContent);
  assert.equal(state, 'joined', `${name} did not join: ${status}`);
  return page.evaluate(() => window.parleyClient.identity);
}

/**
 * All stats of one of the SDK client's peer connections.
 * @param {import('playwright-core').Page} page
 * @param {'publisherPc' | 'subscriberPc'} pc
 */
export function clientStats(page, pc) {
  return page.evaluate(async (which) => {
    const conn = window.parleyClient[which];
    if (!conn) throw new Error(`${which} does not exist`);
    return [...(await conn.getStats()).values()];
  }, pc);
}

/** The inbound-rtp fields worth printing when media does not flow. */
export function summary({ kind, ssrc, packetsReceived, bytesReceived, framesDecoded, frameWidth }) {
  return { kind, ssrc, packetsReceived, bytesReceived, framesDecoded, frameWidth };
}

/**
 * Send one request on a fresh guest session (hello, join a scratch room, then `frame`) from the
 * page's origin, and return the reply's type or, for an error, its code. Tells whether the
 * server knows a request type: `unknown_type` means not (yet).
 * @param {import('playwright-core').Page} page any page of the server's origin
 * @param {object} frame the request, without `id`
 * @returns {Promise<string>}
 */
export function probeRequest(page, frame) {
  return page.evaluate(async (f) => {
    const res = await fetch('/api/guest-token', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'probe', room: 'probe' }),
    });
    const { token } = await res.json();
    const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/ws`);
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
    /** @type {Promise<any>} */
    const reply = new Promise((resolve) => {
      ws.onmessage = (ev) => {
        const m = JSON.parse(ev.data);
        if (m.reply_to === 'probe-3') resolve(m);
      };
    });
    ws.send(JSON.stringify({ type: 'hello', id: 'probe-1', version: 1, token }));
    ws.send(JSON.stringify({ type: 'join', id: 'probe-2', room: 'probe' }));
    ws.send(JSON.stringify({ ...f, id: 'probe-3' }));
    const m = await reply;
    ws.close();
    return m.type === 'error' ? m.code : m.type;
  }, frame);
}
