import { describe, expect, it, vi } from 'vitest';
import { card, show } from '../../kernel-lib/src/display';

describe('display bundles', () => {
  const bundle = card({
    kind: 'table',
    title: 'Images <new>',
    status: 'warning',
    summary: '2 images & 1 quarantined',
    items: [{ label: 'bucket', value: 'raw' }, { label: 'gsd', value: null }],
    table: { columns: ['key', 'gsd'], rows: [['a.tif', 0.5], ['<script>', 1]] }
  });

  it('carries our MIME type with version 1, plus HTML and plain-text fallbacks', () => {
    expect(Object.keys(bundle.data).sort()).toEqual([
      'application/vnd.changelab.table+json',
      'text/html',
      'text/plain'
    ]);
    expect(bundle.data['application/vnd.changelab.table+json']).toMatchObject({ version: 1, title: 'Images <new>' });
    expect(bundle.data['text/plain']).toBe(
      'Images <new> [warning]\n2 images & 1 quarantined\n  bucket: raw\n  gsd: —\n  key | gsd\n  a.tif | 0.5\n  <script> | 1'
    );
  });

  it('escapes every piece of text in the HTML fallback', () => {
    const html = bundle.data['text/html'] as string;
    expect(html).toContain('Images &lt;new&gt;');
    expect(html).toContain('2 images &amp; 1 quarantined');
    expect(html).toContain('<td>&lt;script&gt;</td>');
    expect(html).not.toContain('<script>');
  });

  it('prints the plain text outside a kernel', () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      show(bundle);
      expect(log).toHaveBeenCalledWith(bundle.data['text/plain']);
    } finally {
      log.mockRestore();
    }
  });
});
