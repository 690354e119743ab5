import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zipOf } from '../fixtures/archives.js';
import { startStandalone, waitForExecutors, type Cluster } from '../helpers/cluster.js';
import { requireService } from '../helpers/services.js';

/**
 * The web console end to end: a real standalone server (built by
 * `npm run build`, console included), driven by Playwright in Debian's
 * headless Chromium. Screenshots go to test-output/console/.
 *
 * Playwright's own browser download does not work here (no network), so the
 * system `chromium` is used; `.ci/run` installs it. Under CI=true a missing
 * chromium fails the suite instead of skipping it.
 */

const CHROMIUM = '/usr/bin/chromium';
const KEY = 'console-test-key';
const SHOTS = path.resolve('test-output/console');
// Flags known to work on these machines: the closed network refuses Chromium's
// background connections, and GPU/sandbox are unavailable in CI containers.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const FUNCTION_CODE = `export const handler = async (event: { name?: string }, context: { functionName: string }) => {
  console.log('console-e2e: greeting ' + event.name + ' from ' + context.functionName);
  return { greeting: 'hello ' + event.name };
};`;

describe.skipIf(!requireService('chromium', fs.existsSync(CHROMIUM)))('web console in headless Chromium', () => {
  let cluster: Cluster;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const shot = async (name: string): Promise<void> => {
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };

  beforeAll(async () => {
    if (!fs.existsSync(path.resolve('dist/console/index.html'))) {
      throw new Error('dist/console is missing: run `npm run build` (node build.mjs) before the e2e tests');
    }
    fs.mkdirSync(SHOTS, { recursive: true });
    cluster = await startStandalone({ BRISK_ADMIN_KEY: KEY });
    // launch() gives every run a fresh temporary profile (--user-data-dir).
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  it('serves the app shell at /console and its assets', async () => {
    const html = await fetch(`${cluster.url}/console/functions/anything`);
    expect(html.status).toBe(200);
    expect(await html.text()).toContain('<div id="app">');
    expect((await fetch(`${cluster.url}/console/assets/missing.js`)).status).toBe(404);
  });

  it('refuses a wrong key, then logs in with the right one', async () => {
    await page.goto(`${cluster.url}/console`);
    await page.fill('#key', 'not-the-key');
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('[data-testid=login-error]')).toContain('refused');
    await shot('01-login-refused');

    await page.fill('#key', KEY);
    await page.click('button[type=submit]');
    await page.waitForSelector('h1:text-is("Functions")');
    await page.waitForSelector('text=No functions yet');
    expect(await page.evaluate('sessionStorage.getItem("brisk.console.key")')).toBe(KEY);
    await shot('02-functions-empty');
  });

  it('deploys a function from the editor', async () => {
    await page.fill('#deploy-name', 'hello-console');
    await page.fill('#deploy-code', FUNCTION_CODE);
    await page.fill('#deploy-env', 'GREETING=hi');
    await page.click('[data-testid=deploy-button]');
    await page.waitForURL('**/console/functions/hello-console');
    await page.waitForSelector('h1:text-is("hello-console")');
    expect(await page.textContent('[data-testid=function-version]')).toBe('v1');
    await shot('03-function-deployed');

    // What the console did is what the API holds.
    const res = await fetch(`${cluster.url}/v1/functions/hello-console`, { headers: { authorization: `Bearer ${KEY}` } });
    const fn = (await res.json()) as { version: number; env: Record<string, string> };
    expect(fn.version).toBe(1);
    expect(fn.env).toEqual({ GREETING: 'hi' });
  });

  it('shows a build error with its location', async () => {
    await page.fill('#deploy-code', 'export const handler = async ( => 1;');
    await page.click('[data-testid=deploy-button]');
    const box = page.locator('.deploy-result .error-box');
    await box.waitFor();
    expect(await box.textContent()).toContain('BUILD_FAILED');
    expect(await page.textContent('[data-testid=function-version]')).toBe('v1');
  });

  it("shows a deploy's warnings, and they stay after the page shows the new version", async () => {
    await page.fill('#deploy-code', "export const main = async (e) => ({ greeting: 'hello ' + e.name });");
    await page.click('[data-testid=deploy-button]');
    await expect.poll(() => page.textContent('[data-testid=function-version]')).toBe('v2');
    await expect.poll(() => page.textContent('[data-testid=deploy-warnings]')).toContain("entry does not export 'handler'; 'main' will be called instead");
    await shot('03b-deploy-warnings');
    // Back to the first code, for the tests below.
    await page.fill('#deploy-code', FUNCTION_CODE);
    await page.fill('#deploy-env', 'GREETING=hi');
    await page.click('[data-testid=deploy-button]');
    await expect.poll(() => page.textContent('[data-testid=function-version]')).toBe('v3');
    expect(await page.locator('[data-testid=deploy-warnings]').count()).toBe(0);
  });

  let activationId = '';

  it('invokes with a payload and shows the result, the activation and its logs', async () => {
    await page.fill('#invoke-payload', '{"name":"Brisk"}');
    await page.click('[data-testid=invoke-button]');
    await expect.poll(() => page.textContent('[data-testid=invoke-output]')).toContain('"greeting": "hello Brisk"');
    activationId = (await page.textContent('[data-testid=invoke-activation-id]'))?.trim() ?? '';
    expect(activationId).toMatch(/^[a-zA-Z0-9_-]+$/);
    const logs = page.locator('[data-testid=invoke-result] [data-testid=activation-logs]');
    await expect.poll(() => logs.textContent()).toContain('console-e2e: greeting Brisk from hello-console');
    expect(await page.textContent('[data-testid=invoke-result] [data-testid=activation-view]')).toContain('success');
    await shot('04-invoked');
  });

  it('finds the activation in the history, filtered, with its logs', async () => {
    await page.click('nav a:text-is("Activations")');
    await page.waitForSelector('h1:text-is("Activations")');
    await page.selectOption('[data-testid=filter-function]', 'hello-console');
    await page.selectOption('[data-testid=filter-status]', 'success');
    const row = page.locator(`tr[data-activation="${activationId}"]`);
    await row.waitFor();
    await row.click();
    const detail = page.locator('[data-testid=activation-detail]');
    await expect.poll(() => detail.textContent()).toContain(activationId);
    await expect.poll(() => detail.locator('[data-testid=activation-logs]').textContent()).toContain('console-e2e: greeting Brisk');
    expect(page.url()).toContain(`/console/activations/${activationId}`);
    await shot('05-activations');

    // A status filter that matches nothing hides the row.
    await page.selectOption('[data-testid=filter-status]', 'error');
    await row.waitFor({ state: 'detached' });

    // Reloading the deep link keeps the session (sessionStorage) and the activation.
    await page.reload();
    await expect.poll(() => page.locator('[data-testid=activation-detail]').textContent()).toContain('console-e2e: greeting Brisk');
  });

  it('deploys a .zip dropped on the form, with a handler path', async () => {
    const zip = zipOf({
      'package.json': '{"name":"zipped","type":"module"}',
      'src/index.js': "import { shout } from './lib.js';\nexport const handler = async (e) => ({ shouted: shout(e.word ?? 'zip') });\n",
      'src/lib.js': 'export const shout = (s) => s.toUpperCase() + "!";\n',
    });
    await page.click('nav a:text-is("Functions")');
    await page.waitForSelector('[data-testid=function-table]');
    await page.fill('#deploy-name', 'zipped');
    await page.fill('#deploy-handler', 'src/index.handler');
    // A real drop event carrying the file, as a file manager would send it.
    const dataTransfer = await page.evaluateHandle(
      `(() => { const dt = new DataTransfer(); dt.items.add(new File([new Uint8Array(${JSON.stringify([...zip])})], 'app.zip', { type: 'application/zip' })); return dt; })()`,
    );
    await page.dispatchEvent('[data-testid=dropzone]', 'drop', { dataTransfer });
    await expect.poll(() => page.textContent('[data-testid=dropzone]')).toContain('app.zip');
    await page.click('[data-testid=deploy-button]');
    await page.waitForURL('**/console/functions/zipped');
    await page.waitForSelector('h1:text-is("zipped")');
    await page.fill('#invoke-payload', '{"word":"brisk"}');
    await page.click('[data-testid=invoke-button]');
    await expect.poll(() => page.textContent('[data-testid=invoke-output]')).toContain('"shouted": "BRISK!"');
  });

  it('deploys a Python function with the runtime selector; the list and its page show the runtime', async () => {
    await page.click('nav a:text-is("Functions")');
    await page.waitForSelector('[data-testid=function-table]');
    await page.fill('#deploy-name', 'py-console');
    await page.selectOption('#deploy-runtime', 'python');
    await page.fill('#deploy-handler', 'index.handler');
    await page.fill('#deploy-code', 'def handler(event, context):\n    return {"ok": True}\n');
    await page.click('[data-testid=deploy-button]');
    await page.waitForURL('**/console/functions/py-console');
    await expect.poll(() => page.textContent('[data-testid=function-runtime]')).toBe('Python');
    await page.click('nav a:text-is("Functions")');
    const row = page.locator('[data-testid=function-table] tr', { hasText: 'py-console' });
    await expect.poll(() => row.locator('[data-testid=function-runtime]').textContent()).toBe('Python');
    await expect.poll(() => page.locator('[data-testid=function-table] tr', { hasText: 'zipped' }).locator('[data-testid=function-runtime]').textContent()).toBe('Node.js');
  });

  it('shows the executors with their pool and warm instances', async () => {
    await page.click('nav a:text-is("Executors")');
    const card = page.locator('[data-testid=executor-card]').first();
    await card.waitFor();
    expect(await card.textContent()).toContain('healthy');
    // The function just ran, so its instance is warm on the one executor.
    await expect.poll(() => card.textContent()).toContain('hello-console v3');
    await shot('06-executors');
  });

  it('draws the live charts', async () => {
    // A few more calls so the charts have something to show.
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${cluster.url}/v1/functions/hello-console/invoke`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}` },
        body: JSON.stringify({ name: `n${i}` }),
      });
      expect(r.status).toBe(200);
    }
    await page.click('nav a:text-is("Metrics")');
    for (const id of ['chart-invocations', 'chart-errors', 'chart-latency', 'chart-starts', 'chart-pool']) {
      // A flat line has an empty bounding box, which Playwright calls hidden.
      await page.locator(`[data-testid=${id}] svg path`).first().waitFor({ state: 'attached' });
    }
    // The sync call from the console plus these five, all within the last minute.
    const inLastMinute = async (): Promise<number> => Number(/(\d+) in the last minute/.exec((await page.textContent('[data-testid=metrics-page] .tiles')) ?? '')?.[1] ?? 0);
    await expect.poll(inLastMinute, { timeout: 15_000 }).toBeGreaterThanOrEqual(6);
    await page.waitForTimeout(5_500); // one more 5 s bucket completes, so the lines show the calls
    await shot('07-metrics');
  });

  it('sets, splits, promotes, rolls back and deletes aliases on the function page, and invokes through one', async () => {
    await page.goto(`${cluster.url}/console/functions/hello-console`);
    await page.waitForSelector('[data-testid=alias-form]');
    const routing = (alias: string) => page.textContent(`tr[data-alias="${alias}"] [data-testid=alias-routing]`);
    const setAlias = async (name: string, version: string, split?: { version: string; percent: string }) => {
      await page.fill('#alias-name', name);
      await page.selectOption('#alias-version', version);
      await page.selectOption('#alias-weight-version', split?.version ?? '');
      await page.fill('#alias-weight', split?.percent ?? '');
      await page.click('[data-testid=alias-form] button[type=submit]');
    };

    await setAlias('prod', '1', { version: '3', percent: '20' });
    await expect.poll(() => routing('prod')).toBe('v1 80% · v3 20%');
    // What the console did is what the API holds.
    const held = await fetch(`${cluster.url}/v1/functions/hello-console/aliases/prod`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(await held.json()).toMatchObject({ version: 1, weights: { '3': 0.2 } });
    await shot('04c-alias-split');

    await setAlias('prod', '2');
    await expect.poll(() => routing('prod')).toBe('v2 100%');
    await setAlias('canary', '3');
    await expect.poll(() => routing('canary')).toBe('v3 100%');
    // A split onto the alias's own version is refused with the API's code.
    await setAlias('canary', '3', { version: '3', percent: '10' });
    await expect.poll(() => page.textContent('[data-testid=alias-status]')).toContain('INVALID_WEIGHTS');

    await page.fill('#promote-to', 'prod');
    await page.selectOption('#promote-from', 'canary');
    await page.click('[data-testid=alias-promote] button[type=submit]');
    await expect.poll(() => routing('prod')).toBe('v3 100%');
    await page.click('tr[data-alias="prod"] button:text-is("Roll back")');
    await expect.poll(() => routing('prod')).toBe('v2 100%');

    // The invoke panel offers the aliases; the call runs the version the alias points at.
    await page.selectOption('#invoke-version', 'alias:prod');
    await page.fill('#invoke-payload', '{"name":"alias"}');
    await page.click('[data-testid=invoke-button]');
    await expect.poll(() => page.textContent('[data-testid=invoke-ran-version]')).toBe('ran v2');
    await expect.poll(() => page.textContent('[data-testid=invoke-result] [data-testid=activation-view]')).toContain('hello-console v2 via prod');
    await shot('04d-aliases');

    page.once('dialog', (d) => void d.accept());
    await page.click('tr[data-alias="canary"] button:text-is("Delete")');
    await page.locator('tr[data-alias="canary"]').waitFor({ state: 'detached' });
  });

  it('sets provisioned instances of a version and an alias from the function page, shows ready/wanted, a refusal with its counter-offer, and deletes', async () => {
    const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
    // Configs are checked against the executors the gateway has heard.
    await waitForExecutors(cluster.url, KEY, 1);
    const deployed = await fetch(`${cluster.url}/v1/functions/prov-console`, {
      method: 'PUT',
      headers: auth,
      body: JSON.stringify({ code: 'export const handler = async () => ({ ok: true });', memoryMb: 128 }),
    });
    expect(deployed.status).toBe(201);
    expect((await fetch(`${cluster.url}/v1/functions/prov-console/aliases/live`, { method: 'PUT', headers: auth, body: '{"version":1}' })).status).toBe(201);

    await page.goto(`${cluster.url}/console/functions/prov-console`);
    await page.waitForSelector('[data-testid=provisioned-form]');
    await expect.poll(() => page.textContent('[data-testid=provisioned-list]')).toContain('None.');
    const row = (q: string) => page.locator(`tr[data-provisioned="${q}"]`);
    const setProvisioned = async (target: string, instances: string, window?: { cron: string; minutes: string; instances: string; timezone: string }) => {
      await page.selectOption('#provisioned-target', target);
      await page.fill('#provisioned-instances', instances);
      await page.fill('#provisioned-window-cron', window?.cron ?? '');
      await page.fill('#provisioned-window-minutes', window?.minutes ?? '');
      await page.fill('#provisioned-window-instances', window?.instances ?? '');
      await page.fill('#provisioned-window-timezone', window?.timezone ?? '');
      await page.click('[data-testid=provisioned-form] button[type=submit]');
    };

    await setProvisioned('1', '2');
    // The card polls: ready climbs to wanted as the provisioner loads the instances.
    await expect.poll(() => row('1').locator('[data-testid=provisioned-ready]').textContent(), { timeout: 30_000 }).toBe('2/2');
    expect(await row('1').locator('[data-testid=provisioned-versions]').textContent()).toBe('v1 2/2');
    const held = await fetch(`${cluster.url}/v1/functions/prov-console/provisioned/1`, { headers: auth });
    expect(await held.json()).toMatchObject({ instances: 2, windows: [], status: { wanted: 2, ready: 2 } });

    // The alias (offered once the aliases card has loaded), with a window that fires only on 29 February.
    await page.locator('#provisioned-target option[value=live]').waitFor({ state: 'attached' });
    await setProvisioned('live', '1', { cron: '0 3 29 2 *', minutes: '60', instances: '3', timezone: 'Europe/Paris' });
    await expect.poll(() => row('live').locator('[data-testid=provisioned-ready]').textContent(), { timeout: 30_000 }).toBe('1/1');
    expect(await row('live').locator('[data-testid=provisioned-windows]').textContent()).toContain('0 3 29 2 * Europe/Paris: 3 for 1h');
    expect(await page.inputValue('#provisioned-window-cron')).toBe('');
    await expect.poll(() => page.textContent('[data-testid=provisioned-summary]')).toBe('3 of 3 ready');
    await shot('04e-provisioned');

    // More than the namespace's quota (2048 MB, of which live holds 3 × 128 MB at its peak; v1's own 2 are what changes): the counter-offer.
    await setProvisioned('1', '100');
    const refusal = page.locator('[data-testid=provisioned-refusal]');
    await expect.poll(() => refusal.textContent()).toContain("The namespace's provisioned memory quota can hold 13 of these instances.");
    expect(await refusal.locator('button').textContent()).toBe('Set 13 instead');
    await shot('04f-provisioned-refused');
    // Setting the count again keeps the window.
    await setProvisioned('live', '1');
    await expect.poll(() => refusal.count()).toBe(0);
    const live = await fetch(`${cluster.url}/v1/functions/prov-console/provisioned/live`, { headers: auth });
    expect(((await live.json()) as { windows: unknown[] }).windows).toHaveLength(1);

    page.once('dialog', (d) => void d.accept());
    await row('1').locator('button:text-is("Delete")').click();
    await row('1').waitFor({ state: 'detached' });
    expect((await fetch(`${cluster.url}/v1/functions/prov-console/provisioned/1`, { headers: auth })).status).toBe(404);
    page.once('dialog', (d) => void d.accept());
    await row('live').locator('button:text-is("Delete")').click();
    await expect.poll(() => page.textContent('[data-testid=provisioned-list]')).toContain('None.');
  });

  it('creates a topic trigger that fires the function, and deletes it', async () => {
    page.once('dialog', (d) => void d.accept());
    await page.click('nav a:text-is("Triggers")');
    await page.waitForSelector('[data-testid=trigger-form]');
    await page.fill('#trigger-name', 'on-greet');
    await page.selectOption('#trigger-kind', 'topic');
    await page.fill('#trigger-spec', JSON.stringify({ type: 'topic', function: 'hello-console', topic: 'greetings' }));
    await page.click('[data-testid=trigger-form] button[type=submit]');
    const row = page.locator('tr[data-trigger="on-greet"]');
    await row.waitFor();
    expect(await row.textContent()).toContain('topic greetings');
    await shot('08-triggers');

    // The trigger is real: an event on the topic runs the function, and the history shows it.
    const published = await fetch(`${cluster.url}/v1/events/greetings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'topic' }),
    });
    expect(published.status).toBe(202);
    const body = (await published.json()) as { events: { deliveries: { activationId: string }[] }[] };
    const fired = body.events[0]?.deliveries[0]?.activationId ?? '';
    expect(fired).not.toBe('');
    await page.goto(`${cluster.url}/console/activations/${fired}`);
    await expect.poll(() => page.textContent('[data-testid=activation-detail]'), { timeout: 20_000 }).toContain('topic:on-greet');

    await page.click('nav a:text-is("Triggers")');
    await row.waitFor();
    await row.locator('button:text-is("Delete")').click();
    await row.waitFor({ state: 'detached' });
  });

  it('lists a dead letter and re-drives it', async () => {
    const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
    const deployed = await fetch(`${cluster.url}/v1/functions/always-fails`, {
      method: 'PUT',
      headers: auth,
      body: JSON.stringify({ code: 'export const handler = async () => { throw new Error("boom from the console test"); };', retries: 0 }),
    });
    expect(deployed.status).toBe(201);
    const invoked = await fetch(`${cluster.url}/v1/functions/always-fails/invoke?async=true`, { method: 'POST', headers: auth, body: '{"n":1}' });
    const { activationId: failed } = (await invoked.json()) as { activationId: string };

    await page.click('nav a:text-is("Dead letters")');
    const row = page.locator(`tr[data-dead-letter="${failed}"]`);
    // The dead letter is written once the async attempt failed; the page lists what is there when opened.
    await expect
      .poll(
        async () => {
          await page.click('button:text-is("Refresh")');
          return row.count();
        },
        { timeout: 20_000, interval: 500 },
      )
      .toBe(1);
    expect(await row.textContent()).toContain('RETRIES_EXHAUSTED');
    expect(await row.textContent()).toContain('boom from the console test');
    await row.click(); // opens the event
    await shot('09-dead-letters');
    await row.locator('[data-testid=redrive-button]').click();
    await expect.poll(() => row.textContent()).toContain('Re-driven');
    const again = (await row.locator('a code').last().textContent())?.trim() ?? '';
    expect(again).not.toBe(failed);
    const res = await fetch(`${cluster.url}/v1/activations/${again}`, { headers: auth });
    expect(((await res.json()) as { trigger?: string }).trigger).toBe('redrive');
  });

  it('logs out back to the key prompt, and raised no page errors', async () => {
    await page.click('button:text-is("Log out")');
    await page.waitForSelector('#key');
    expect(await page.evaluate('sessionStorage.getItem("brisk.console.key")')).toBeNull();
    expect(pageErrors).toEqual([]);
  });

  it('with a namespace key, shows the executors with that namespace\'s warm instances only', async () => {
    const admin = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
    expect((await fetch(`${cluster.url}/v1/namespaces/console-ns`, { method: 'PUT', headers: admin, body: '{}' })).status).toBe(201);
    const issued = await fetch(`${cluster.url}/v1/namespaces/console-ns/keys`, { method: 'POST', headers: admin, body: JSON.stringify({ readOnly: false }) });
    const nsKey = ((await issued.json()) as { key: string }).key;
    const own = { authorization: `Bearer ${nsKey}`, 'content-type': 'application/json' };
    const code = 'export const handler = async () => ({ ok: true });';
    expect((await fetch(`${cluster.url}/v1/functions/ns-fn`, { method: 'PUT', headers: own, body: JSON.stringify({ code }) })).status).toBe(201);
    expect((await fetch(`${cluster.url}/v1/functions/ns-fn/invoke`, { method: 'POST', headers: own, body: '{}' })).status).toBe(200);

    await page.fill('#key', nsKey);
    await page.click('button[type=submit]');
    await page.waitForSelector('h1:text-is("Functions")');
    await page.click('nav a:text-is("Executors")');
    const card = page.locator('[data-testid=executor-card]').first();
    await card.waitFor();
    expect(await card.textContent()).toContain('healthy');
    await expect.poll(() => card.textContent(), { timeout: 10_000 }).toContain('console-ns/ns-fn v1');
    // The admin's functions (default namespace) are warm too, but not this key's to see.
    expect(await card.textContent()).not.toContain('hello-console');
    await shot('10-executors-namespace-key');
    await page.click('nav a:text-is("Metrics")');
    await page.locator('[data-testid=chart-pool] svg path').first().waitFor({ state: 'attached' });
    await page.click('button:text-is("Log out")');
    await page.waitForSelector('#key');
    expect(pageErrors).toEqual([]);
  });
});
