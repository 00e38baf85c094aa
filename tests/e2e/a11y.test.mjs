// Accessibility of the main pages, checked by axe-core (the engine behind most accessibility audits) in
// headless Chromium against the WCAG 2.0 and 2.1 A and AA rules: every page, signed out and signed in,
// on a desktop and a phone, with forms showing their errors, must have no violation at all (missing
// labels, contrast, links told apart by colour alone, names of buttons and links, duplicate ids, ...).
// A violation fails with the page, the rule and the elements.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { startServer, python } from './server.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let server;
let browser;

async function newPage(viewport = { width: 1280, height: 900 }) {
  // The pages' CSP allows only the site's own scripts; the audit script is injected by the test.
  const context = await browser.newContext({ baseURL: server.base, viewport, bypassCSP: true });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  return page;
}

const button = (page, name) => page.getByRole('button', { name, exact: true });

/** The WCAG 2 A/AA violations on the page as it is now. */
async function violations(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  return result.violations
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join('\n    ')}`);
}

/** Audits the page (after `prepare`, if given) and adds what it finds to `report`, by page. */
async function audit(report, page, path, prepare) {
  if (path) await page.goto(path);
  if (prepare) await prepare(page);
  for (const v of await violations(page)) report.push(`${new URL(page.url()).pathname}: ${v}`);
}

async function user(name, extra = []) {
  const password = `pw-${name}-123456`;
  await server.cli(['user', 'create', name, '--email', `${name}@example.test`, '--full-name', `User ${name}`, '--password-stdin', ...extra], `${password}\n`);
  return { name, password, token: (await server.cli(['token', 'create', name, '--role', 'write'])).trim() };
}

async function signIn(page, { name, password }) {
  await page.goto('/login');
  await page.fill('#f-login', name);
  await page.fill('#f-password', password);
  await button(page, 'Sign in').click();
  await page.locator('[data-testid=me]').waitFor();
}

// A model with a card, code and a gated form; a dataset; an organization with a collection.
const SETUP = `
import sys
from huggingface_hub import HfApi
api = HfApi()
card = """---
license: apache-2.0
tags: [text-generation]
extra_gated_fields:
  Company: text
  Country: country
  I agree to the terms: checkbox
---
# Tiny model

| a | b |
|---|---|
| 1 | 2 |

\`\`\`python
print("hello")
\`\`\`
"""
api.create_repo("ada/tiny")
api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id="ada/tiny")
api.upload_file(path_or_fileobj=b'{"layers": 2}\\n', path_in_repo="config.json", repo_id="ada/tiny")
api.update_repo_settings("ada/tiny", gated="manual")
api.create_repo("ada/data", repo_type="dataset")
api.upload_file(path_or_fileobj=b"a,b\\n1,2\\n", path_in_repo="train.csv", repo_id="ada/data", repo_type="dataset")
c = api.create_collection("Favourites", namespace="ada")
api.add_collection_item(c.slug, "ada/tiny", "model")
print(c.slug)
`;

describe('accessibility (axe-core, WCAG 2 A/AA)', () => {
  let ada;
  let bob;
  let collection;

  before(async () => {
    server = await startServer();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    ada = await user('ada', ['--site-admin']);
    bob = await user('bob');
    collection = (await python(SETUP, { base: server.base, token: ada.token })).trim().split('\n').pop();
    await server.cli(['org', 'create', 'acme', '--admin', 'ada', '--full-name', 'Acme Research']);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('finds no violation on the pages anyone sees', async () => {
    const report = [];
    const page = await newPage();
    for (const path of ['/', '/models', '/datasets', '/login', '/join', '/login/forgot', '/ada', '/ada/tiny',
      '/ada/tiny/tree/main', '/ada/tiny/blob/main/README.md', '/ada/tiny/commits/main', '/datasets/ada/data',
      '/collections/ada', `/collections/${collection}`, '/nobody/nothing']) {
      await audit(report, page, path);
    }
    // Forms showing their errors.
    await audit(report, page, '/login', async (p) => { await button(p, 'Sign in').click(); await p.locator('[data-testid=form-error], .field-error').first().waitFor(); });
    await audit(report, page, '/join', async (p) => { await button(p, 'Create account').click(); await p.locator('.field-error').first().waitFor(); });
    assert.deepEqual(report, [], report.join('\n'));
  });

  it('finds no violation on the pages of a signed-in user, an owner and a requester', async () => {
    const report = [];
    const page = await newPage();
    await signIn(page, ada);
    const commit = await page.goto('/ada/tiny/commits/main').then(() => page.locator('a[href*="/commit/"]').first().getAttribute('href'));
    for (const path of ['/settings/profile', '/settings/tokens', '/settings/two-factor', '/settings/invitations', '/new',
      '/organizations/new', '/organizations/acme/members', '/notifications', commit, '/ada/tiny/refs',
      '/ada/tiny/settings', '/ada/tiny/settings/access-requests']) {
      await audit(report, page, path);
    }
    await audit(report, page, '/new', async (p) => { await button(p, 'Create repository').click(); await p.locator('.field-error').first().waitFor(); });

    // The requester's side of a gated repository: the form, then its errors.
    const requester = await newPage({ width: 390, height: 844 });
    await signIn(requester, bob);
    await audit(report, requester, '/ada/tiny');
    await audit(report, requester, null, async (p) => {
      await p.getByRole('button', { name: /access/i }).first().click();
      await p.locator('.field-error, [data-testid=form-error]').first().waitFor();
    });
    assert.deepEqual(report, [], report.join('\n'));
  });
});
