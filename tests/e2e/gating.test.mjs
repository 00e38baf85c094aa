// A gated repository in the browser: a user requests access on the repository's page (the form the card
// describes), the owner accepts in the "Review access requests" dialog of the settings page, and the user
// downloads the file. The repository and its card are made with the real huggingface_hub client.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, python, ROOT } from './server.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = join(ROOT, 'docs/screenshots');

let server;
let browser;

async function newPage() {
  const context = await browser.newContext({ baseURL: server.base, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  return page;
}

const button = (page, name) => page.getByRole('button', { name, exact: true });

async function signIn(page, login, password) {
  await page.goto('/login');
  await page.fill('#f-login', login);
  await page.fill('#f-password', password);
  await button(page, 'Sign in').click();
  await page.locator('[data-testid=me]').waitFor();
}

async function user(name) {
  const password = `pw-${name}-123456`;
  await server.cli(['user', 'create', name, '--email', `${name}@example.test`, '--full-name', `User ${name}`, '--password-stdin'], `${password}\n`);
  return { name, password, token: (await server.cli(['token', 'create', name, '--role', 'write'])).trim() };
}

const CARD = `---
extra_gated_heading: Acknowledge the license to access this model
extra_gated_prompt: You agree to use this model for research only.
extra_gated_fields:
  Company: text
  Country: country
  I agree to the terms: checkbox
---
# Research model
`;

describe('gated repository in the browser', () => {
  before(async () => {
    server = await startServer();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('a user requests access, the owner accepts in the dialog, the user downloads', async () => {
    const owner = await user('olga');
    const asker = await user('sam');
    await python(
      `
from huggingface_hub import HfApi
api = HfApi()
api.create_repo("olga/research")
api.upload_file(path_or_fileobj=${JSON.stringify(CARD)}.encode(), path_in_repo="README.md", repo_id="olga/research")
api.upload_file(path_or_fileobj=b"weights v1", path_in_repo="weights.txt", repo_id="olga/research")
api.update_repo_settings("olga/research", gated="manual")
`,
      { base: server.base, token: owner.token },
    );

    // The user sees the gate and cannot download yet.
    const sam = await newPage();
    await signIn(sam, asker.name, asker.password);
    await sam.goto('/olga/research');
    const gate = sam.locator('[data-testid=gate]');
    assert.equal((await gate.locator('h2').textContent()).trim(), 'Acknowledge the license to access this model');
    const refused = await sam.request.get('/olga/research/resolve/main/weights.txt');
    assert.equal(refused.status(), 403);
    assert.equal(refused.headers()['x-error-code'], 'GatedRepo');

    // A form sent incomplete comes back with the errors next to their fields.
    await sam.getByLabel('Company').fill('Samco');
    await button(sam, 'Agree and send request to access repo').click();
    await sam.locator('#f-gate-1-error').waitFor();
    assert.equal(await sam.inputValue('#f-gate-0'), 'Samco', 'what was typed is kept');
    await sam.getByLabel('Country').selectOption('SE');
    await sam.getByLabel('I agree to the terms').check();
    await mkdir(SHOTS, { recursive: true });
    await sam.screenshot({ path: join(SHOTS, 'gate-request-form.png') });
    await button(sam, 'Agree and send request to access repo').click();
    await sam.locator('[data-testid=gate][data-standing=pending]').waitFor();

    // The owner reviews in the settings page's dialog and accepts.
    const olga = await newPage();
    await signIn(olga, owner.name, owner.password);
    await olga.goto('/olga/research/settings');
    await olga.locator('[data-testid=review-link]').click();
    const dialog = olga.locator('dialog#review-requests');
    await dialog.waitFor({ state: 'visible' });
    const row = dialog.locator('[data-testid=pending] tr[data-user=sam]');
    assert.match(await row.innerText(), /Company: Samco/);
    assert.match(await row.innerText(), /Country: SE/);
    await olga.screenshot({ path: join(SHOTS, 'gate-review-dialog.png') });
    await row.getByRole('button', { name: 'Accept sam' }).click();
    // Back on the settings page with the dialog open again, sam now in the accepted list.
    await dialog.locator('[data-testid=accepted] tr[data-user=sam]').waitFor({ state: 'visible' });
    assert.equal(await dialog.locator('[data-testid=pending] tr').count(), 0);

    // The user now downloads the file from its page.
    await sam.goto('/olga/research/blob/main/weights.txt');
    const [download] = await Promise.all([sam.waitForEvent('download'), sam.locator('[data-testid=download]').click()]);
    assert.deepEqual(await readFile(await download.path()), Buffer.from('weights v1'));
    await sam.goto('/olga/research');
    await sam.locator('[data-testid=gate][data-standing=access]').waitFor();
  });

  it('shows a gating group on its collection page, and one request opens its repositories', async () => {
    const admin = await user('gina');
    const asker = await user('tom');
    await server.cli(['org', 'create', 'lab', '--admin', admin.name, '--full-name', 'The Lab']);
    const slug = (await python(
      `
import httpx
from huggingface_hub import HfApi
api = HfApi()
for name in ("llm-small", "llm-large"):
    api.create_repo(f"lab/{name}")
    api.upload_file(path_or_fileobj=b"weights", path_in_repo="weights.txt", repo_id=f"lab/{name}")
c = api.create_collection("LLM family", namespace="lab")
for name in ("llm-small", "llm-large"):
    api.add_collection_item(c.slug, f"lab/{name}", "model")
r = httpx.put(f"${server.base}/api/collections/{c.slug}/gating", json={"gated": "auto"},
              headers={"authorization": f"Bearer ${admin.token}"})
assert r.status_code == 200, r.text
print(c.slug)
`,
      { base: server.base, token: admin.token },
    )).trim();

    const tom = await newPage();
    await signIn(tom, asker.name, asker.password);
    await tom.goto(`/collections/${slug}`);
    await tom.locator('[data-testid=gating-badge]').waitFor();
    await tom.screenshot({ path: join(SHOTS, 'collection-gating-group.png') });
    // One request, on one of them, opens both.
    assert.equal((await tom.request.get('/lab/llm-large/resolve/main/weights.txt')).status(), 403);
    await tom.goto('/lab/llm-small');
    await button(tom, 'Agree and send request to access repo').click();
    await tom.locator('[data-testid=gate][data-standing=access]').waitFor();
    const large = await tom.request.get('/lab/llm-large/resolve/main/weights.txt');
    assert.equal(large.status(), 200);
    assert.equal(await large.text(), 'weights');
  });
});
