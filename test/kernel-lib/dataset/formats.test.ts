// DVC's file formats without services: the .dir serialization against Python's json.dumps (what
// dvc-data calls), the .dvc YAML reader/writer on the shapes DVC writes, and .dvc/config parsing.
import { execFileSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { DvcSettings, formatDvcConfig, parseDvcConfig } from '../../../kernel-lib/src/dataset/dvc-config';
import { dumpYaml, formatDvcFile, parseDvcFile, parseYaml } from '../../../kernel-lib/src/dataset/dvc-file';
import { compareCodePoints, parseTree, treeBytes, treeMd5 } from '../../../kernel-lib/src/dataset/dvc-tree';
import { tempDir } from '../../helpers';

const NAMES = [
  'a.txt', 'B.txt', 'sub/x.bin', 'sp ace.txt', 'é.txt', '한국어/파일.tif', 'emoji-😀.txt', 'ﬀ-ligature', 'quote"q', 'back\\slash',
  'tab\there', 'del\x7f', 'ctl\x01', 'z', 'Z', '_', '~tilde', 'a/b/c/d/e.txt'
];

function pythonDump(entries: Array<{ md5: string; relpath: string }>): Buffer {
  const script =
    'import json,sys\n' +
    'lst=json.loads(sys.stdin.read())\n' +
    'from operator import itemgetter\n' +
    'lst=sorted(lst,key=itemgetter("relpath"))\n' +
    'sys.stdout.buffer.write(json.dumps(lst, sort_keys=True).encode("utf-8"))';
  return execFileSync('python3', ['-c', script], { input: JSON.stringify(entries) });
}

describe('.dir manifests', () => {
  const entries = NAMES.map((relpath, i) => ({ relpath, md5: crypto.createHash('md5').update(String(i)).digest('hex') }));

  it('serialize byte for byte as dvc-data does (json.dumps(sorted by relpath, sort_keys=True))', () => {
    expect(treeBytes(entries).toString('utf8')).toBe(pythonDump(entries).toString('utf8'));
    const { md5, bytes } = treeMd5(entries);
    expect(md5).toBe(crypto.createHash('md5').update(pythonDump(entries)).digest('hex') + '.dir');
    expect(parseTree(bytes)).toEqual([...entries].sort((a, b) => compareCodePoints(a.relpath, b.relpath)));
  });

  it('sort by code point as Python does, not by UTF-16 unit', () => {
    // U+FB00 (BMP) sorts before U+1F600 by code point, after its surrogate 0xD83D by UTF-16 unit.
    expect(compareCodePoints('ﬀ', '😀')).toBeLessThan(0);
    expect('ﬀ' < '😀').toBe(false);
  });

  it('refuse entries that could escape the dataset folder', () => {
    for (const relpath of ['../x', '/etc/passwd', 'a//b', 'a/./b', '']) {
      expect(() => parseTree(Buffer.from(JSON.stringify([{ md5: 'd41d8cd98f00b204e9800998ecf8427e', relpath }])))).toThrow(/safe relative path/);
    }
    expect(() => parseTree(Buffer.from('{"not": "a list"}'))).toThrow(/not a JSON list/);
    expect(() => parseTree(Buffer.from('[{"md5": "xyz", "relpath": "a"}]'))).toThrow(/entry 0/);
  });
});

describe('.dvc files', () => {
  it('write the layout `dvc add` writes', () => {
    expect(formatDvcFile({ outs: [{ md5: 'a6381c5013f5bb351291cd4800c91623.dir', size: 12, nfiles: 3, hash: 'md5', path: 'ds1' }] })).toBe(
      'outs:\n- md5: a6381c5013f5bb351291cd4800c91623.dir\n  size: 12\n  nfiles: 3\n  hash: md5\n  path: ds1\n'
    );
  });

  it('read hand-edited files and keep keys DVC allows (desc, meta, labels) when rewriting', () => {
    const text = [
      '# comment',
      'outs:',
      "- md5: 'a6381c5013f5bb351291cd4800c91623.dir'  # quoted",
      '  size: 12',
      '  nfiles: 3',
      '  hash: md5',
      '  path: "ds1"',
      '  desc: chips for the Seoul model',
      '  labels:',
      '  - seoul',
      '  - v2',
      'meta:',
      '  owner: team-a',
      ''
    ].join('\n');
    const file = parseDvcFile(text);
    expect(file.outs[0]).toMatchObject({ md5: 'a6381c5013f5bb351291cd4800c91623.dir', size: 12, nfiles: 3, path: 'ds1' });
    expect(file.outs[0].extra).toEqual({ desc: 'chips for the Seoul model', labels: ['seoul', 'v2'] });
    expect(file.extra).toEqual({ meta: { owner: 'team-a' } });
    const again = parseDvcFile(formatDvcFile(file));
    expect(again).toEqual(file);
  });

  it('quote scalars YAML would read as something else', () => {
    for (const value of ['true', 'null', '1.5', '007', 'a: b', '#x', "it's", '- dash', ' lead', 'ok name']) {
      expect(parseYaml(dumpYaml({ k: value }))).toEqual({ k: value });
    }
  });

  it('say what is wrong with a file that is not a .dvc file', () => {
    expect(() => parseDvcFile('stages:\n  train:\n    cmd: python x.py\n', 'dvc.yaml')).toThrow(/no "outs" list/);
    expect(() => parseDvcFile('outs:\n- md5: x\n', 'bad.dvc')).toThrow(/outs\[0\] has no path/);
    expect(() => parseYaml('outs: [a, b]\n', 'flow.dvc')).toThrow(/not supported/);
  });
});

describe('.dvc/config', () => {
  it('reads DVC config files and merges config.local over config', () => {
    const dir = tempDir();
    fs.writeFileSync(
      path.join(dir, 'config'),
      "[core]\n    remote = minio\n['remote \"minio\"']\n    url = s3://bucket/prefix\n    endpointurl = http://127.0.0.1:9000\n['remote \"shelf\"']\n    url = ../../shelf\n"
    );
    fs.writeFileSync(path.join(dir, 'config.local'), "['remote \"minio\"']\n    access_key_id = AK\n    secret_access_key = SK\n");
    const settings = DvcSettings.read(dir);
    expect(settings.remote()).toMatchObject({ name: 'minio', url: 's3://bucket/prefix', endpointurl: 'http://127.0.0.1:9000', access_key_id: 'AK', secret_access_key: 'SK' });
    // A relative folder is relative to .dvc/, as DVC resolves it.
    expect(settings.remote('shelf').url).toBe(path.resolve(dir, '../../shelf'));
    expect(() => settings.remote('nope')).toThrow(/not defined/);
    fs.rmSync(dir, { recursive: true });
  });

  it('writes what it reads', () => {
    const text = "[core]\n    remote = minio\n['remote \"minio\"']\n    url = s3://b/p\n";
    expect(formatDvcConfig(parseDvcConfig(text))).toBe(text);
    expect(() => parseDvcConfig('url = x\n', 'c')).toThrow(/c:1/);
  });
});
