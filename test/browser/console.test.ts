// The dashboard as an operations console, in a real browser (the system's Chromium, driven by
// playwright-core) against the local engine: select a run, read its graph, timeline and history,
// open a task's drawer, start, cancel and retry runs from the page, and follow deep links both
// ways. DAGFLOW_SCREENSHOTS=<dir> saves the main views there (npm run screenshots -> docs/).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '../../local/runtime.js';
import type { TaskHandler } from '../../shared/index.js';
import { workflows } from '../../workflows/index.js';
import { register, startRunViaApi, startRuntime, waitForRun, type ApiClient } from '../integration/e2e-support.js';

/** Where Chromium is: CHROMIUM_PATH, or Debian's package (`.ci/run` installs it). */
function chromiumPath(): string {
  const candidates = [process.env['CHROMIUM_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  const found = candidates.find((candidate): candidate is string => candidate !== undefined && candidate !== '' && existsSync(candidate));
  if (found === undefined) throw new Error('no Chromium found: apt-get install -y chromium, or set CHROMIUM_PATH');
  return found;
}

const screenshots = process.env['DAGFLOW_SCREENSHOTS'];
async function screenshot(page: Page, name: string): Promise<void> {
  if (screenshots === undefined || screenshots === '') return;
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: join(screenshots, `${name}.png`) });
}

/** Holds its attempt until the run is cancelled, or returns at once once `holding` is off. */
let holding = true;
const hold: TaskHandler = async (ctx) => {
  const started = Date.now();
  while (holding && !ctx.signal.aborted && Date.now() - started < 60_000) await new Promise((resolve) => setTimeout(resolve, 50));
  if (ctx.signal.aborted) throw new Error('cancelled');
  return { held: Date.now() - started };
};

let runtime: LocalRuntime;
let api: ApiClient;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  ({ runtime, api } = await startRuntime({ console_hold: hold }));
  for (const example of workflows) await register(api, example.toJSON());
  await register(api, {
    id: 'console_hold',
    tasks: [
      { id: 'prepare', type: 'pass' },
      { id: 'hold_for_signal', handler: 'console_hold', dependsOn: ['prepare'] },
      { id: 'finish', type: 'pass', dependsOn: ['hold_for_signal'] },
    ],
  });
  browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
  // Cancel and retry ask for confirmation: the user says yes.
  page.on('dialog', (dialog) => void dialog.accept());
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await runtime?.stop();
});

const hashOf = (page: Page) => new URLSearchParams(new URL(page.url()).hash.slice(1));

describe('the console in a browser', () => {
  it('selects a run from the list: its graph, a task drawer, the timeline and the history; the URL follows', async () => {
    const runId = await startRunViaApi(api, 'order_processing', { orderId: 'b-1', amount: 42, currency: 'EUR', customer: { email: 'b@example.com' } });
    await waitForRun(api, runId);
    await page.goto(runtime.apiUrl + '/');
    await page.click('button[data-workflow="order_processing"]');
    await page.click(`button[data-run="${runId}"]`);
    await page.waitForSelector('#graph g.node');
    expect(await page.locator('#graph g.node').count()).toBe(5);
    expect(hashOf(page).get('run')).toBe(runId);
    expect(hashOf(page).get('workflow')).toBe('order_processing');
    await screenshot(page, 'run-graph');

    await page.click('#graph g.node[data-task="charge_payment"]');
    const drawer = page.locator('#drawer.open');
    await drawer.waitFor();
    expect(await drawer.locator('h2').innerText()).toBe('charge_payment');
    expect(await drawer.locator('#attempts tr').count()).toBeGreaterThan(1);
    expect(await drawer.innerText()).toMatch(/output/i);
    expect(hashOf(page).get('task')).toBe('charge_payment');
    await screenshot(page, 'task-drawer');
    await page.click('#close-drawer');

    // Finding a task by a part of its id selects it (a large run's graph is scrolled to it).
    await page.fill('#find-task-id', 'ship');
    await page.press('#find-task-id', 'Enter');
    await page.locator('#drawer.open h2', { hasText: 'ship_order' }).waitFor();
    await page.click('#close-drawer');

    await page.click('button.tab[data-tab="timeline"]');
    await page.waitForSelector('#timeline .bar');
    expect(await page.locator('#timeline .bar').count()).toBeGreaterThanOrEqual(5);
    await screenshot(page, 'run-timeline');
    await page.click('button.tab[data-tab="history"]');
    await page.waitForSelector('#history');
    expect(await page.locator('#history').innerText()).toContain('RunCompleted');
    expect(hashOf(page).get('tab')).toBe('history');
  });

  it('cancels a running run from the page, then retries it from the page', async () => {
    holding = true;
    const runId = await startRunViaApi(api, 'console_hold', {});
    // A deep link straight to the run.
    await page.goto(`${runtime.apiUrl}/#run=${runId}`);
    await page.waitForSelector('#cancel-run');
    await page.click('#graph g.node[data-task="hold_for_signal"]');
    await page.locator('#drawer.open').waitFor();
    await page.click('#cancel-run');
    expect((await waitForRun(api, runId)).status).toBe('CANCELLED');
    await page.waitForSelector('#retry-run');

    holding = false;
    await page.click('#retry-run');
    await expect.poll(async () => (await api.get(`/runs/${runId}`)).body.status, { timeout: 30_000 }).toBe('COMPLETED');
    await page.locator('#run h2', { hasText: 'COMPLETED' }).waitFor();
  });

  it('starts a run from the page with a JSON input, and selects it', async () => {
    await page.goto(`${runtime.apiUrl}/#workflow=console_hold`);
    await page.click('#start-run');
    await page.fill('#start-input', '{"from": "the console"}');
    await page.click('#start-submit');
    await expect.poll(() => hashOf(page).get('run'), { timeout: 10_000 }).toBeTruthy();
    const run = await waitForRun(api, hashOf(page).get('run')!);
    expect(run).toMatchObject({ status: 'COMPLETED', input: { from: 'the console' } });
  });

  it('draws a wide fan as one box whose drawer lists its members, each opening its own drawer', async () => {
    const width = 30;
    await register(api, {
      id: 'console_wide',
      tasks: [
        { id: 'split', type: 'pass' },
        ...Array.from({ length: width }, (_, i) => ({ id: `part_${i}`, type: 'pass', dependsOn: ['split'] })),
        { id: 'merge', type: 'pass', dependsOn: Array.from({ length: width }, (_, i) => `part_${i}`) },
      ],
    });
    const runId = await startRunViaApi(api, 'console_wide', {});
    await waitForRun(api, runId);
    await page.goto(`${runtime.apiUrl}/#run=${runId}`);
    await page.waitForSelector('#graph g.node.group');
    expect(await page.locator('#graph g.node').count()).toBe(3);
    expect(await page.locator('#graph g.node.group').textContent()).toContain(`${width} tasks`);
    await page.click('#graph g.node.group');
    await page.locator('#drawer.open #members').waitFor();
    expect(await page.locator('#members button[data-member]').count()).toBe(width);
    await page.click('#members button[data-member="part_7"]');
    await page.locator('#drawer.open h2', { hasText: 'part_7' }).waitFor();
    expect(hashOf(page).get('task')).toBe('part_7');
  });

  it("links a workflow task to its child run, and the child back to its parent", async () => {
    const runId = await startRunViaApi(api, 'reorder', { sku: 'A-1', amount: 90, quantity: 3 });
    const run = await waitForRun(api, runId);
    const childRunId = run.tasks.find((task: { taskId: string }) => task.taskId === 'place_order').childRunId as string;
    await page.goto(`${runtime.apiUrl}/#run=${runId}&task=place_order`);
    await page.locator('#drawer.open #child-run').waitFor();
    await page.click('#drawer.open #child-run');
    await page.locator('#run-id', { hasText: childRunId }).waitFor();
    expect(hashOf(page).get('run')).toBe(childRunId);
    await page.click('#parent-run');
    await page.locator('#run-id', { hasText: runId }).waitFor();
    expect(hashOf(page).get('run')).toBe(runId);
  });

  it("shows a map task's item count, linked to its items", async () => {
    const runId = await startRunViaApi(api, 'monthly_invoices', { customers: 7 });
    await waitForRun(api, runId);
    await page.goto(`${runtime.apiUrl}/#run=${runId}&task=invoice_each`);
    await page.locator('#drawer.open #map-items').waitFor();
    expect(await page.locator('#map-items').innerText()).toBe('7 items');
    const href = await page.locator('#map-items').getAttribute('href');
    expect(href).toBe(`/runs/${runId}/tasks/invoice_each/items`);
    const listed = await api.get(href ?? '');
    expect(listed.body.items.map((item: { index: number }) => item.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('says on the page that a linked run does not exist', async () => {
    await page.goto(`${runtime.apiUrl}/#run=no-such-run`);
    await page.waitForSelector('#run-missing');
    expect(await page.locator('#run-missing').innerText()).toMatch(/no-such-run.*not found/);
  });
});
