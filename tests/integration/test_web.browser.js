// The browser half of test_web.py: Debian's chromium, headless, driven by puppeteer-core.
// Env: KILN_WEB_URL (login URL with the token), KILN_WEB_BASE, CHROMIUM, SHOT (PNG path).
// Prints "ok NAME" / "not ok NAME" lines and "# browser done" at the end.
'use strict';
const puppeteer = require('puppeteer-core');

const URL_LOGIN = process.env.KILN_WEB_URL;
const BASE = process.env.KILN_WEB_BASE;
let failed = 0;

function check(name, cond, detail) {
  if (cond) console.log('ok ' + name);
  else {
    failed++;
    console.log('not ok ' + name + (detail ? ' -- ' + String(detail).slice(-800) : ''));
  }
  return cond;
}

async function waitFor(page, fn, arg, timeout) {
  try {
    await page.waitForFunction(fn, { timeout, polling: 250 }, arg);
    return true;
  } catch (e) {
    return false;
  }
}

const stateOf = (page, name) => page.evaluate((n) => {
  const tr = document.querySelector(`tr[data-vm="${n}"]`);
  return tr ? tr.dataset.state : null;
}, name);

// What the page's terminal holds, from xterm's buffer (`term` is app.js's global): a
// background tab renders nothing (no animation frames) but still parses what arrives.
const bufferText = () => {
  if (typeof term === 'undefined' || !term) return '';
  const b = term.buffer.active, out = [];
  for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
  return out.join('\n');
};
const termText = (page) => page.evaluate(bufferText);
const termHas = (page, re, timeout) => waitFor(page,
  new Function('s', `return new RegExp(s).test((${bufferText.toString()})());`), re.source, timeout);

async function typeInConsole(page, text) {
  await page.click('#terminal .xterm-screen');
  await page.focus('#terminal .xterm-helper-textarea');
  await page.keyboard.type(text, { delay: 15 });
  await page.keyboard.press('Enter');
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM,
    headless: true,
    // --no-sandbox: the test may run as root, where chromium's sandbox refuses to start.
    args: ['--no-sandbox', '--disable-gpu', '--window-size=1440,1000', '--no-first-run'],
    defaultViewport: { width: 1440, height: 1000 },
  });
  const errors = [];
  try {
    const page = await browser.newPage();
    // Refusals the test provokes on purpose (409, 400) show up as failed loads: not errors.
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of (409|400)/.test(m.text())) errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(URL_LOGIN, { waitUntil: 'domcontentloaded' });
    check('the login URL lands on / without the token', page.url() === BASE + '/', page.url());
    const cookies = await page.cookies();
    const c = cookies.find((x) => x.name === 'kiln_session');
    check('browser holds an HttpOnly SameSite=Strict session cookie',
      c && c.httpOnly && c.sameSite === 'Strict' && c.path === '/', JSON.stringify(cookies));
    check('scripts cannot read the session cookie', (await page.evaluate(() => document.cookie)) === '');

    const listed = await waitFor(page, () => ['alpha', 'beta'].every((n) => {
      const tr = document.querySelector(`tr[data-vm="${n}"]`);
      return tr && tr.dataset.state === 'running';
    }), null, 20000);
    check('the dashboard lists both VMs booted by the test as running', listed,
      await page.evaluate(() => document.querySelector('#vms').innerText));
    const graphs = await waitFor(page, () => {
      const tr = document.querySelector('tr[data-vm="beta"]');
      return tr && Number(tr.dataset.samples) >= 4;
    }, null, 20000);
    const cpuText = await page.evaluate(() => document.querySelector('tr[data-vm="beta"] td:nth-child(7) .val').textContent);
    check('graphs update live (4+ CPU samples over SSE)', graphs, cpuText);
    const pct = parseFloat(cpuText);
    // Up to the cap; how much of it the loop gets depends on what else the host runs.
    check('the busy loop shows CPU use, at most about its 30% cap', pct > 2 && pct < 45, cpuText);
    const inked = await page.evaluate(() => {
      const cv = document.querySelector('tr[data-vm="beta"] canvas.cpu');
      const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
      return n;
    });
    check('the CPU sparkline is drawn', inked > 20, inked);

    // console of alpha: history replay shows the prompt, then uname -m
    await page.click('tr[data-vm="alpha"] button[data-act="console"]');
    const prompt = await termHas(page, /~ #/, 20000);
    check('the console shows the guest prompt (ring history replayed)', prompt, await termText(page));
    await typeInConsole(page, 'uname -m');
    const un = await termHas(page, /uname -m\s*\n\s*riscv64/, 30000);
    const shown = await page.evaluate(() => document.querySelector('#terminal .xterm-rows').innerText);
    check('the answer is on screen (xterm rendered it)', /riscv64/.test(shown), shown);
    check('typing uname -m in the browser console prints riscv64', un, await termText(page));

    // a second viewer on the same VM (another tab of the same session)
    const page2 = await browser.newPage();
    await page2.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
    await waitFor(page2, () => document.querySelector('tr[data-vm="alpha"] button[data-act="console"]'), null, 15000);
    await page2.click('tr[data-vm="alpha"] button[data-act="console"]');
    await waitFor(page2, () => document.querySelector('#console-status').textContent.startsWith('attached'), null, 10000);
    await typeInConsole(page2, 'echo two-$((20+22))-viewers');
    const re = /two-42-viewers/;
    const both = await termHas(page2, re, 20000) && await termHas(page, re, 5000);
    check('two browser consoles on one VM both see the output', both, await termText(page));
    await page2.close();
    await page.bringToFront();

    // create form -> running
    await page.type('#create input[name=name]', 'gamma');
    await page.$eval('#create input[name=mem]', (e) => { e.value = '128M'; });
    await page.click('#create button[type=submit]');
    const gammaUp = await waitFor(page, () => {
      const tr = document.querySelector('tr[data-vm="gamma"]');
      return tr && tr.dataset.state === 'running';
    }, null, 60000);
    check('a VM created from the form reaches running', gammaUp, await page.evaluate(() => document.querySelector('#create-msg').textContent));
    // the screenshot, with the console showing uname's answer and gamma booting
    await new Promise((r) => setTimeout(r, 3000));
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: process.env.SHOT, fullPage: true });
    check('screenshot saved', true);

    // the form refuses what the API refuses, with its message
    await page.type('#create input[name=name]', 'gamma');
    await page.click('#create button[type=submit]');
    const dup = await waitFor(page, () => /already|exists|409/i.test(document.querySelector('#create-msg').textContent), null, 10000);
    check('a duplicate name from the form shows the API error', dup,
      await page.evaluate(() => document.querySelector('#create-msg').textContent));
    await page.$eval('#create input[name=name]', (e) => { e.value = ''; });
    await page.type('#create input[name=name]', 'delta');
    await page.$eval('#create input[name=mem]', (e) => { e.value = '256'; });
    await page.click('#create button[type=submit]');
    const hint = await page.evaluate(() => document.querySelector('#create-msg').textContent);
    check('a bare number as memory is refused with a hint', /did you mean "256M"/.test(hint), hint);
    await page.$eval('#create input[name=name]', (e) => { e.value = ''; });
    await page.$eval('#create input[name=mem]', (e) => { e.value = '256M'; });

    // stop from the page
    await page.click('tr[data-vm="gamma"] button[data-act="stop"]');
    const stopped = await waitFor(page, () => {
      const tr = document.querySelector('tr[data-vm="gamma"]');
      return tr && tr.dataset.state === 'stopped';
    }, null, 60000);
    check('Stop brings the VM to stopped', stopped, await stateOf(page, 'gamma'));

    // pause / resume, a new CPU cap through the Set dialog, delete with confirmation
    const waitState = (name, st, t) => waitFor(page, ([n, s]) => {
      const tr = document.querySelector(`tr[data-vm="${n}"]`);
      return tr && tr.dataset.state === s;
    }, [name, st], t);
    await page.click('tr[data-vm="alpha"] button[data-act="pause"]');
    check('Pause brings alpha to paused', await waitState('alpha', 'paused', 15000));
    await page.click('tr[data-vm="alpha"] button[data-act="resume"]');
    check('Resume brings it back to running', await waitState('alpha', 'running', 15000));
    await page.click('tr[data-vm="beta"] button[data-act="set"]');
    await page.$eval('#set-form input[name=cpu_cap]', (e) => { e.value = '50'; });
    await page.click('#set-form button[value=ok]');
    const capped = await waitFor(page, () => /1 · 50%/.test(document.querySelector('tr[data-vm="beta"]').innerText), null, 10000);
    check('Set changes the CPU cap of a running VM', capped,
      await page.evaluate(() => document.querySelector('tr[data-vm="beta"]').innerText));
    await page.click('tr[data-vm="gamma"] button[data-act="delete"]');
    await page.click('#confirm button[value=cancel]');
    await new Promise((r) => setTimeout(r, 1500));
    check('Delete asks first; Cancel keeps the VM', await stateOf(page, 'gamma') === 'stopped');
    await page.click('tr[data-vm="gamma"] button[data-act="delete"]');
    await page.click('#confirm button[value=ok]');
    check('Delete after confirming removes it',
      await waitFor(page, () => !document.querySelector('tr[data-vm="gamma"]'), null, 10000));

    // a console on a VM that ends says so
    await page.click('tr[data-vm="beta"] button[data-act="console"]');
    await waitFor(page, () => document.querySelector('#console-status').textContent.startsWith('attached'), null, 10000);
    await page.click('tr[data-vm="beta"] button[data-act="kill"]');
    const endMsg = await termHas(page, /\[VM 'beta' is stopped/, 20000);
    check('the console shows a clear message when the VM stops', endMsg, await termText(page));

    check('no script errors or CSP violations in the page', errors.length === 0, errors.join('\n'));
    await page.close();
  } finally {
    await browser.close();
  }
  console.log('# browser done');
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  console.log('not ok browser test crashed -- ' + (e && e.stack));
  process.exitCode = 1;
});
