import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ToolchainError, temporalCliPath, temporalTestServerPath } from '../../dev/toolchain.js';

// Fake binaries in temp folders; the real toolchain is left alone.
const tmp = mkdtempSync(path.join(os.tmpdir(), 'toolchain-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function fakeBinary(dir: string, name: string, executable = true): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, '#!/bin/sh\nexit 0\n');
  chmodSync(file, executable ? 0o755 : 0o644);
  return file;
}

const explicit = fakeBinary(path.join(tmp, 'explicit'), 'temporal');
const explicitTestServer = fakeBinary(path.join(tmp, 'explicit'), 'temporal-test-server');
const onPathDir = path.join(tmp, 'path-bin');
const onPath = fakeBinary(onPathDir, 'temporal');
fakeBinary(onPathDir, 'temporal-test-server');
const rootWithTools = path.join(tmp, 'project');
const localCli = fakeBinary(path.join(rootWithTools, '.tools', 'py', 'bin'), 'temporal');
const localTestServer = fakeBinary(path.join(rootWithTools, '.tools', 'py', 'bin'), 'temporal-test-server');
const emptyRoot = path.join(tmp, 'empty-project');
const emptyPath = path.join(tmp, 'nothing-here');

describe.skipIf(process.platform === 'win32')('temporalCliPath', () => {
  it('prefers TEMPORAL_CLI_PATH over PATH and .tools/py', () => {
    expect(temporalCliPath({ TEMPORAL_CLI_PATH: explicit, PATH: onPathDir }, rootWithTools)).toBe(explicit);
  });

  it('then takes `temporal` from PATH', () => {
    expect(temporalCliPath({ PATH: [emptyPath, onPathDir].join(path.delimiter) }, rootWithTools)).toBe(onPath);
  });

  it('then the pinned copy in .tools/py/bin', () => {
    expect(temporalCliPath({ PATH: emptyPath }, rootWithTools)).toBe(localCli);
  });

  it('skips files on PATH that are not executable', () => {
    const dir = path.join(tmp, 'not-executable');
    fakeBinary(dir, 'temporal', false);
    expect(temporalCliPath({ PATH: dir }, rootWithTools)).toBe(localCli);
  });

  it('rejects a TEMPORAL_CLI_PATH that is not an executable file', () => {
    expect(() => temporalCliPath({ TEMPORAL_CLI_PATH: path.join(tmp, 'missing'), PATH: onPathDir }, rootWithTools)).toThrow(
      /TEMPORAL_CLI_PATH=.*missing is not an executable file/,
    );
  });

  it('says to run `npm run setup` when nothing is found', () => {
    expect(() => temporalCliPath({ PATH: emptyPath }, emptyRoot)).toThrow(ToolchainError);
    expect(() => temporalCliPath({ PATH: emptyPath }, emptyRoot)).toThrow(/npm run setup.*TEMPORAL_CLI_PATH/s);
  });
});

describe.skipIf(process.platform === 'win32')('temporalTestServerPath', () => {
  it('prefers TEMPORAL_TEST_SERVER_PATH', () => {
    expect(temporalTestServerPath({ TEMPORAL_TEST_SERVER_PATH: explicitTestServer }, rootWithTools)).toBe(explicitTestServer);
  });

  it('uses .tools/py/bin, not PATH', () => {
    expect(temporalTestServerPath({ PATH: onPathDir }, rootWithTools)).toBe(localTestServer);
    expect(() => temporalTestServerPath({ PATH: onPathDir }, emptyRoot)).toThrow(/npm run setup/);
  });
});
