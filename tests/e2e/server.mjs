// Starts a real `gatehouse serve` on a free port with a throw-away data directory, and runs its CLI.
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = process.env.GATEHOUSE_BIN || join(ROOT, 'target/debug/gatehouse');
export const VENV = process.env.GATEHOUSE_VENV || join(ROOT, '.venv');

/** The environment for the binary: none of the caller's GATEHOUSE_* settings (a stray
 *  GATEHOUSE_DATABASE_URL or _CONFIG would point the server at someone else's data), plus `extra`. */
function childEnv(extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GATEHOUSE_')));
  return { ...env, GATEHOUSE_LOG: 'warn', ...extra };
}

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A running server: `{ base, dataDir, cli(args, stdin), stop() }`.
 * Sign-up is open so the tests can create accounts in the browser.
 */
export async function startServer({ env = {} } = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-e2e-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(BIN, ['serve', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`], {
    env: childEnv({ GATEHOUSE_SIGNUP: 'open', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Keep the server's output: printed only when something goes wrong, it explains the failure.
  let log = '';
  proc.stdout.on('data', (d) => (log += d));
  proc.stderr.on('data', (d) => (log += d));
  let exited = null;
  const done = new Promise((r) => proc.once('exit', (code, signal) => r((exited = { code, signal }))));

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`gatehouse exited early (${JSON.stringify(exited)}):\n${log}`);
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`gatehouse did not become healthy at ${base}/healthz within 30 s:\n${log}`);
    }
    await sleep(100);
  }

  return {
    base,
    dataDir,
    log: () => log,
    /** Runs `gatehouse --data-dir DIR ...args` (the same database as the server); resolves to stdout. */
    cli: (args, stdin) => runCli(['--data-dir', dataDir, ...args], stdin),
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        await done;
        clearTimeout(timer);
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

function runCli(args, stdin) {
  return new Promise((ok, fail) => {
    const child = execFile(BIN, args, { env: childEnv() }, (err, stdout, stderr) => {
      if (err) fail(new Error(`gatehouse ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else ok(stdout);
    });
    child.stdin.end(stdin ?? '');
  });
}

/**
 * Runs Python code in the venv that has the real huggingface_hub, talking to `base` with `token`.
 * Resolves to stdout; rejects with stderr (the Python traceback) on a non-zero exit.
 */
export async function python(code, { base, token, args = [] } = {}) {
  const env = { ...process.env, HF_ENDPOINT: base, HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_UPDATE_CHECK: '1' };
  // No ambient credentials: only the token under test may authenticate.
  delete env.HF_TOKEN;
  env.HF_HOME = await mkdtemp(join(tmpdir(), 'gatehouse-e2e-hf-'));
  if (token) env.HF_TOKEN = token;
  try {
    const { stdout } = await promisify(execFile)(join(VENV, 'bin/python'), ['-c', code, ...args], {
      env,
      timeout: 120_000,
    });
    return stdout;
  } catch (e) {
    throw new Error(`python failed: ${e.message}\n--- stderr ---\n${e.stderr ?? ''}`);
  } finally {
    await rm(env.HF_HOME, { recursive: true, force: true });
  }
}
