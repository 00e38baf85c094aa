// End-to-end tests of the web UI: a real `gatehouse serve`, headless Chromium, and the real
// huggingface_hub client for what the UI hands over to the API (tokens, uploads).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, python, ROOT } from './server.mjs';
import { totp } from './totp.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = join(ROOT, 'docs/screenshots');
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let server;
let browser;

/** A fresh browser profile (own cookies) whose relative URLs go to the server. */
async function newPage(viewport = DESKTOP) {
  const context = await browser.newContext({ baseURL: server.base, viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  return page;
}

/** Waits until the page's URL path is `path` (and the query has `query`'s values). */
function urlIs(page, path, query = {}) {
  return page.waitForURL((u) => u.pathname === path && Object.entries(query).every(([k, v]) => u.searchParams.get(k) === v));
}

const button = (page, name) => page.getByRole('button', { name, exact: true });
const text = async (locator) => (await locator.textContent()).trim();

/** Signs in through the form and waits for the header to name the user. */
async function signIn(page, login, password) {
  await page.goto('/login');
  await page.fill('#f-login', login);
  await page.fill('#f-password', password);
  await button(page, 'Sign in').click();
  await page.locator('[data-testid=me]').waitFor();
  assert.equal(await text(page.locator('[data-testid=me]')), login);
}

/** An account made with the operator CLI, for tests that are not about signing up. */
async function cliUser(name, password = `pw-${name}-123456`) {
  await server.cli(['user', 'create', name, '--email', `${name}@example.test`, '--full-name', `User ${name}`, '--password-stdin'], `${password}\n`);
  return { name, password };
}

const cliToken = async (user) => (await server.cli(['token', 'create', user, '--role', 'write'])).trim();

// Uploads files one commit each with huggingface_hub's upload_file; the spec travels as JSON in argv.
const UPLOAD = `
import json, sys
from huggingface_hub import HfApi
spec = json.loads(sys.argv[1])
api = HfApi()
for f in spec["files"]:
    api.upload_file(path_or_fileobj=f["content"].encode(), path_in_repo=f["path"], repo_id=spec["repo"],
                    commit_message=f.get("message") or "Upload " + f["path"])
`;
const upload = (token, repo, files) => python(UPLOAD, { base: server.base, token, args: [JSON.stringify({ repo, files })] });

async function shot(page, name) {
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

describe('gatehouse web UI', () => {
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

  it('signs up, refuses a wrong password, and signs in', async () => {
    const page = await newPage();
    await page.goto('/join');
    await page.fill('#f-name', 'alice');
    await page.fill('#f-email', 'alice@example.test');
    await page.fill('#f-full_name', 'Alice Example');
    await page.fill('#f-password', 'correct horse battery');
    await button(page, 'Create account').click();
    await urlIs(page, '/login', { joined: '1' });

    // A wrong password: an error, the login kept so only the password needs retyping, not signed in.
    await page.fill('#f-login', 'alice');
    await page.fill('#f-password', 'wrong password!');
    await button(page, 'Sign in').click();
    await page.locator('[data-testid=form-error]').waitFor();
    assert.equal(await page.inputValue('#f-login'), 'alice');
    assert.equal(await page.locator('[data-testid=me]').count(), 0);

    await page.fill('#f-password', 'correct horse battery');
    await button(page, 'Sign in').click();
    await page.locator('[data-testid=me]').waitFor();
    assert.equal(await text(page.locator('[data-testid=me]')), 'alice');
  });

  // alice, signed up above, is reused by the next two tests; the later ones make their own users.
  it('signs in with the keyboard alone', async () => {
    const page = await newPage();
    await page.goto('/login');
    await page.focus('#f-login');
    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    // Tab order must go straight from the login to the password field.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'f-password');
    await page.keyboard.type('correct horse battery');
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=me]').waitFor();
    assert.equal(await text(page.locator('[data-testid=me]')), 'alice');
  });

  it('creates an access token that huggingface_hub accepts', async () => {
    const page = await newPage();
    await signIn(page, 'alice', 'correct horse battery');
    await page.goto('/settings/tokens');
    await page.fill('#f-name', 'e2e');
    await page.check('input[name=role][value=write]');
    await button(page, 'Create token').click();
    const secret = await text(page.locator('#token-secret'));
    assert.ok(secret.length > 0, 'the new token is shown');
    const row = page.locator('[data-testid=tokens] tbody tr', { hasText: 'e2e' });
    assert.equal(await row.count(), 1);
    assert.match(await text(row), /write/);

    const out = await python(
      'import json; from huggingface_hub import HfApi; print(json.dumps(HfApi().whoami()))',
      { base: server.base, token: secret },
    );
    const me = JSON.parse(out);
    assert.equal(me.name, 'alice');
    assert.equal(me.auth?.accessToken?.role, 'write');
  });

  it('creates a repository in the page and browses what the API uploaded', async () => {
    const user = await cliUser('bob');
    const page = await newPage();
    await signIn(page, user.name, user.password);
    await page.goto('/new');
    assert.equal(await page.inputValue('#f-owner'), 'bob', 'the owner defaults to the signed-in user');
    await page.check('input[name=type][value=model]');
    await page.fill('#f-name', 'e2e-model');
    await page.check('input[name=visibility][value=public]');
    await button(page, 'Create repository').click();
    await urlIs(page, '/bob/e2e-model');
    assert.equal(await page.locator('[data-testid=card] h1').count(), 0, 'an empty repository has no card yet');

    const readme = '---\ntags:\n- e2e\n---\n# E2E model\n';
    const config = JSON.stringify({ architectures: ['E2EModel'], hidden_size: 64, note: 'héllo <b>' }, null, 2) + '\n';
    await upload(await cliToken(user.name), 'bob/e2e-model', [
      { path: 'README.md', content: readme },
      { path: 'config.json', content: config },
    ]);

    await page.reload();
    assert.equal(await text(page.locator('[data-testid=card] h1')), 'E2E model');
    assert.ok((await page.locator('[data-testid=tags] li').allTextContents()).map((t) => t.trim()).includes('e2e'));
    // The front matter is metadata, not text to show.
    assert.doesNotMatch(await page.locator('[data-testid=card]').innerText(), /tags:/);

    await page.getByRole('link', { name: 'Files and versions' }).click();
    await urlIs(page, '/bob/e2e-model/tree/main');
    const files = page.locator('[data-testid=files]');
    await files.getByRole('link', { name: 'config.json', exact: true }).click();
    await urlIs(page, '/bob/e2e-model/blob/main/config.json');
    // The preview shows the text itself (escaped, so "<b>" is text and not markup).
    assert.equal((await page.locator('[data-testid=preview]').innerText()).trimEnd(), config.trimEnd());

    // The Download button makes the browser save the file, byte for byte.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=download]').click()]);
    assert.equal(download.suggestedFilename(), 'config.json');
    assert.deepEqual(await readFile(await download.path()), Buffer.from(config, 'utf8'));
  });

  it('enrols in two-factor authentication and then asks for a code at sign-in', async () => {
    const user = await cliUser('dave');
    const page = await newPage();
    await signIn(page, user.name, user.password);
    await page.goto('/settings/two-factor');
    await button(page, 'Set up two-factor authentication').click();
    await page.locator('.qr svg').waitFor();
    const secret = await text(page.locator('[data-testid=totp-secret]'));
    await page.fill('#f-code', totp(secret));
    await button(page, 'Turn on').click();
    await page.locator('[data-testid=recovery-codes]').waitFor();
    assert.equal(await page.locator('[data-testid=recovery-codes] li').count(), 10);
    await page.locator('[data-testid="2fa-status"]').waitFor();

    await button(page, 'Sign out').click();
    await urlIs(page, '/');
    assert.equal(await page.locator('[data-testid=me]').count(), 0);

    await page.goto('/login');
    await page.fill('#f-login', user.name);
    await page.fill('#f-password', user.password);
    await button(page, 'Sign in').click();
    await urlIs(page, '/login/two-factor');
    assert.equal(await page.locator('[data-testid=me]').count(), 0, 'not signed in before the second factor');

    // A wrong code (one no nearby time step produces) is refused and the page asks again.
    const near = [-60, -30, 0, 30, 60].map((d) => totp(secret, Date.now() / 1000 + d));
    await page.fill('#f-code', ['000000', '111111'].find((c) => !near.includes(c)));
    await button(page, 'Verify').click();
    await page.locator('[data-testid=form-error]').waitFor();

    // The current step's code was spent at enrolment and each step works once: use the next one.
    await page.fill('#f-code', totp(secret, Date.now() / 1000 + 30));
    await button(page, 'Verify').click();
    await page.locator('[data-testid=me]').waitFor();
    assert.equal(await text(page.locator('[data-testid=me]')), user.name);
  });

  it('hides a private repository from anonymous visitors', async () => {
    const user = await cliUser('erin');
    await python('from huggingface_hub import HfApi; HfApi().create_repo("erin/secret-model", private=True)', {
      base: server.base,
      token: await cliToken(user.name),
    });

    const anon = await newPage();
    const res = await anon.goto('/erin/secret-model');
    assert.equal(res.status(), 404);
    assert.match(res.headers()['content-type'], /^text\/html/);
    assert.equal(await anon.locator('[data-testid=error-message]').count(), 1);
    const hidden = await res.text();
    // Exactly what a repository that does not exist looks like, so its existence does not leak.
    const missing = await anon.goto('/erin/no-such-model');
    assert.equal(missing.status(), 404);
    assert.equal(hidden.replaceAll('secret-model', 'X'), (await missing.text()).replaceAll('no-such-model', 'X'));

    // The owner does see it (so the 404 above is about visibility, not a broken page).
    const owner = await newPage();
    await signIn(owner, user.name, user.password);
    const mine = await owner.goto('/erin/secret-model');
    assert.equal(mine.status(), 200);
    await owner.locator('.repo-head .badge.private').waitFor();
  });

  it('takes screenshots of the main pages', async () => {
    const user = await cliUser('ada');
    const token = await cliToken(user.name);
    await python('from huggingface_hub import HfApi; HfApi().create_repo("ada/tiny-llama")', { base: server.base, token });
    const config = { architectures: ['LlamaForCausalLM'], hidden_size: 256, num_hidden_layers: 4, vocab_size: 32000 };
    await upload(token, 'ada/tiny-llama', [
      {
        path: 'README.md',
        content:
          '---\nlicense: apache-2.0\ntags:\n- text-generation\n- llama\n---\n# Tiny Llama\n\nA **small** causal language model, trained for testing.\n\n' +
          '## Usage\n\n```python\nfrom transformers import AutoModelForCausalLM\nmodel = AutoModelForCausalLM.from_pretrained("ada/tiny-llama")\n```\n\n' +
          '| Layers | Hidden size |\n|---|---|\n| 4 | 256 |\n',
      },
      { path: 'config.json', content: JSON.stringify(config, null, 2) + '\n' },
      // A second version, so the newest commit has a diff with removed and added lines.
      { path: 'config.json', content: JSON.stringify({ ...config, num_hidden_layers: 6 }, null, 2) + '\n', message: 'Use 6 layers' },
    ]);

    const anon = await newPage();
    await anon.goto('/');
    await shot(anon, 'home');
    await anon.goto('/models');
    assert.ok((await anon.locator('[data-testid=results] [data-testid=repo]').allTextContents()).some((t) => t.includes('ada/tiny-llama')));
    await shot(anon, 'models');
    await anon.goto('/login');
    await shot(anon, 'sign-in');
    await anon.goto('/join');
    await shot(anon, 'sign-up');

    const page = await newPage();
    await signIn(page, user.name, user.password);
    await page.goto('/ada/tiny-llama');
    await page.locator('[data-testid=card] h1').waitFor();
    await shot(page, 'repo-card');
    await page.goto('/ada/tiny-llama/tree/main');
    await page.locator('[data-testid=files]').waitFor();
    await shot(page, 'repo-tree');
    await page.goto('/ada/tiny-llama/blob/main/config.json');
    await page.locator('[data-testid=preview]').waitFor();
    await shot(page, 'repo-blob');
    await page.goto('/ada/tiny-llama/commits/main');
    await shot(page, 'repo-commits');
    await page.locator('[data-testid=commits] a').first().click();
    await page.locator('[data-testid=diff-file][data-path="config.json"]').waitFor();
    await shot(page, 'repo-commit');

    await page.goto('/settings/tokens');
    await page.locator('[data-testid=tokens]').waitFor();
    await shot(page, 'settings-tokens');
    await page.goto('/settings/two-factor');
    await button(page, 'Set up two-factor authentication').click();
    await page.locator('.qr svg').waitFor();
    await shot(page, 'settings-two-factor');
    await page.goto('/new');
    await shot(page, 'new-repo');

    await page.goto('/organizations/new');
    await page.fill('#f-name', 'acme');
    await page.fill('#f-full_name', 'Acme Research');
    await button(page, 'Create organization').click();
    await urlIs(page, '/acme');
    await page.goto('/organizations/acme/members');
    assert.equal(await page.locator('[data-testid=members] tr[data-member=ada]').count(), 1, 'the creator is a member');
    await shot(page, 'org-members');

    const phone = await newPage(PHONE);
    await phone.goto('/ada/tiny-llama');
    await phone.locator('[data-testid=card] h1').waitFor();
    await shot(phone, 'repo-card-phone');
  });

  it('fits the pages of a repository on a phone screen', async () => {
    // Reuses ada/tiny-llama from the screenshots: its card has a code block wider than a phone.
    const phone = await newPage(PHONE);
    for (const path of ['/ada/tiny-llama', '/ada/tiny-llama/tree/main', '/ada/tiny-llama/blob/main/config.json', '/ada/tiny-llama/commits/main']) {
      await phone.goto(path);
      // Wide content (code, tables) must scroll inside its own box, not make the whole page scroll sideways.
      const [pageWidth, screenWidth] = await phone.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      assert.ok(pageWidth <= screenWidth, `${path} is ${pageWidth}px wide on a ${screenWidth}px screen`);
    }
  });
  it('lets a site administrator invite someone, who joins with the link', async () => {
    // A hub of its own: sign-up there is by invitation only.
    const hub = await startServer({ env: { GATEHOUSE_SIGNUP: 'invite-only' } });
    try {
      await hub.cli(['user', 'create', 'root', '--email', 'root@example.test', '--site-admin', '--password-stdin'], 'pw-root-123456\n');
      const admin = await (await browser.newContext({ baseURL: hub.base, viewport: DESKTOP })).newPage();
      await signIn(admin, 'root', 'pw-root-123456');
      await admin.goto('/settings/profile');
      await admin.getByRole('link', { name: 'Invitations' }).click();
      await urlIs(admin, '/settings/invitations');
      await admin.fill('#f-email', 'newbie@example.test');
      await button(admin, 'Create invitation').click();
      const link = await admin.locator('[data-testid=invitation-link]').getAttribute('href');
      const code = await text(admin.locator('[data-testid=invitation-code]'));
      assert.equal(link, `${hub.base}/join?invitation=${code}`);
      await shot(admin, 'settings-invitations');

      // The newcomer opens the link: the code is filled in; without it, joining is refused.
      const newcomer = await (await browser.newContext({ baseURL: hub.base, viewport: PHONE })).newPage();
      await newcomer.goto(link);
      assert.equal(await newcomer.inputValue('#f-invitation'), code);
      await newcomer.fill('#f-name', 'newbie');
      await newcomer.fill('#f-email', 'newbie@example.test');
      await newcomer.fill('#f-password', 'pw-newbie-123456');
      await button(newcomer, 'Create account').click();
      await urlIs(newcomer, '/login', { joined: '1' });
      await signIn(newcomer, 'newbie', 'pw-newbie-123456');

      await admin.goto('/settings/invitations');
      assert.equal(await text(admin.locator('[data-testid=invitations] td.state')), 'used by newbie');
    } finally {
      await hub.stop();
    }
  });
});
