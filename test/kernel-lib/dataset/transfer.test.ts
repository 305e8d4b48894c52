// Transfer plumbing: transient S3/network errors are retried and others are not, concurrency and
// the memory budget are bounded, and a folder remote refuses a cache file that does not match its
// name (nothing is written under that name).
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { ByteBudget, forEachLimit, isTransient, LocalRemote, withRetries } from '../../../kernel-lib/src/dataset/remote';
import { tempDir } from '../../helpers';

const dirs: string[] = [];
afterAll(() => dirs.forEach(d => fs.rmSync(d, { recursive: true, force: true })));

describe('transfers', () => {
  it('retry transient failures (connection resets, 5xx, SlowDown) and give up on the rest at once', async () => {
    let calls = 0;
    const flaky = await withRetries('t', async () => {
      calls++;
      if (calls < 3) {
        throw Object.assign(new Error('reset'), { code: calls === 1 ? 'ECONNRESET' : 'SlowDown' });
      }
      return 'ok';
    });
    expect([flaky, calls]).toEqual(['ok', 3]);
    calls = 0;
    await expect(
      withRetries('t', async () => {
        calls++;
        throw Object.assign(new Error('denied'), { code: 'AccessDenied' });
      })
    ).rejects.toThrow('denied');
    expect(calls).toBe(1);
    expect(isTransient({ statusCode: 503 })).toBe(true);
    expect(isTransient({ code: 'NoSuchKey', statusCode: 404 })).toBe(false);
    expect(isTransient(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ETIMEDOUT' }) }))).toBe(true);
    calls = 0;
    await expect(
      withRetries(
        't',
        async () => {
          calls++;
          throw Object.assign(new Error('always down'), { code: 'ECONNREFUSED' });
        },
        3
      )
    ).rejects.toThrow('always down');
    expect(calls).toBe(3);
  });

  it('run at most `concurrency` jobs at once and stop starting new ones after a failure', async () => {
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    await expect(
      forEachLimit(Array.from({ length: 50 }, (_, i) => i), 4, async i => {
        started.push(i);
        running++;
        peak = Math.max(peak, running);
        await new Promise(r => setTimeout(r, 2));
        running--;
        if (i === 10) {
          throw new Error('job 10 failed');
        }
      })
    ).rejects.toThrow('job 10 failed');
    expect(peak).toBe(4);
    expect(started.length).toBeLessThan(50);
  });

  it('hold uploads to the memory budget', async () => {
    const budget = new ByteBudget(100);
    await budget.acquire(60);
    let second = false;
    const waiting = budget.acquire(60).then(() => (second = true));
    await new Promise(r => setTimeout(r, 10));
    expect(second).toBe(false);
    budget.release(60);
    await waiting;
    expect(second).toBe(true);
    await budget.acquire(0);
  });

  it('refuse to upload a cache file whose bytes do not match its name to a folder remote', async () => {
    const dir = tempDir('changelab-ds-remote-');
    dirs.push(dir);
    const remote = new LocalRemote('shelf', path.join(dir, 'remote'));
    const file = path.join(dir, 'object');
    fs.writeFileSync(file, 'hello\n');
    await remote.upload(file, 'b1946ac92492d2347c6235b4d2611184');
    expect(await remote.has(['b1946ac92492d2347c6235b4d2611184', 'ffffffffffffffffffffffffffffffff'])).toEqual(new Set(['b1946ac92492d2347c6235b4d2611184']));
    fs.writeFileSync(file, 'tampered\n');
    await expect(remote.upload(file, 'd41d8cd98f00b204e9800998ecf8427e')).rejects.toThrow(/does not match its hash/);
    expect(fs.existsSync(path.join(dir, 'remote', 'files', 'md5', 'd4'))).toBe(true);
    expect(fs.readdirSync(path.join(dir, 'remote', 'files', 'md5', 'd4'))).toEqual([]);
    const dest = path.join(dir, 'copy');
    expect(await remote.download('b1946ac92492d2347c6235b4d2611184', dest)).toEqual({ md5: 'b1946ac92492d2347c6235b4d2611184', size: 6 });
    await expect(remote.download('ffffffffffffffffffffffffffffffff', dest)).rejects.toThrow(/not in the remote shelf/);
  });
});
