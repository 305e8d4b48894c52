// The progress display outside a kernel: one terminal line redrawn in place, or nothing at all.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { progress } from '../../../kernel-lib/src/display';

describe('progress', () => {
  afterEach(() => vi.restoreAllMocks());

  it('redraws one terminal line on stderr and ends it with the summary', () => {
    const writes: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    const bar = progress('ingest flights/', { mode: 'terminal', intervalMs: 0 });
    bar.update(1, null);
    bar.update(5, 10, '5 indexed');
    bar.finish('10 indexed');
    bar.update(99, 100); // ignored after finish
    expect(writes[0]).toMatch(/^\r/);
    expect(writes.join('')).toMatch(/\[#{12}\.{12}\] 5\/10 5 indexed/);
    expect(writes.at(-2)).toMatch(/10 indexed/);
    expect(writes.at(-1)).toBe('\n');
    expect(writes.join('')).not.toMatch(/99/);
  });

  it('writes nothing in mode none', () => {
    const spy = vi.spyOn(process.stderr, 'write');
    const bar = progress('x', { mode: 'none' });
    bar.update(1, 2);
    bar.finish('done');
    expect(spy).not.toHaveBeenCalled();
  });
});
