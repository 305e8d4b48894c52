// `<name>.dvc` files: the small YAML document `dvc add` writes (outs with md5, size, nfiles, hash,
// path). The YAML here is the block subset DVC writes and users edit by hand — mappings, sequences,
// plain and quoted scalars, comments — read into plain values and written back in DVC's own style
// (ruamel's block layout, sequences not indented, keys in DVC's order).
import { ChangelabError } from '../errors';

export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

export class DvcFileError extends ChangelabError {}

export interface IDvcOut {
  md5: string;
  size?: number;
  nfiles?: number;
  hash?: string;
  path: string;
  /** Other keys DVC allows on an out (desc, type, labels, meta, cache, push, ...), kept as they were. */
  extra?: Record<string, YamlValue>;
}

export interface IDvcFile {
  outs: IDvcOut[];
  /** Other top-level keys (md5, frozen, deps, wdir, meta, ...), kept as they were. */
  extra?: Record<string, YamlValue>;
}

// ---- reading ---------------------------------------------------------------------------------

interface ILine {
  indent: number;
  text: string;
  no: number;
}

function scalar(raw: string, where: string): YamlValue {
  const s = raw.trim();
  if (s === '' || s === '~' || s === 'null' || s === 'Null' || s === 'NULL') {
    return null;
  }
  if (s.startsWith("'")) {
    if (!s.endsWith("'") || s.length < 2) {
      throw new DvcFileError(`${where}: unterminated quoted string ${s}`);
    }
    return s.slice(1, -1).replace(/''/g, "'");
  }
  if (s.startsWith('"')) {
    try {
      return JSON.parse(s) as string;
    } catch {
      throw new DvcFileError(`${where}: bad double-quoted string ${s}`);
    }
  }
  if (s === '{}') {
    return {};
  }
  if (s === '[]') {
    return [];
  }
  if (/^(true|True|TRUE)$/.test(s)) {
    return true;
  }
  if (/^(false|False|FALSE)$/.test(s)) {
    return false;
  }
  if (/^[-+]?\d+$/.test(s)) {
    return Number(s);
  }
  if (/^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$/.test(s)) {
    return Number(s);
  }
  if (/^[[{&*!|>%@`]/.test(s)) {
    throw new DvcFileError(`${where}: YAML feature not supported in .dvc files here: ${s}`);
  }
  return s;
}

/** Strips a trailing ` # comment` outside quotes. */
function stripComment(text: string): string {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) {
        quote = null;
      }
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '#' && (i === 0 || text[i - 1] === ' ')) {
      return text.slice(0, i).trimEnd();
    }
  }
  return text.trimEnd();
}

/** Splits `key: value` (key plain or quoted); undefined when the line is not a mapping entry. */
function splitKey(text: string): [string, string] | undefined {
  const m = /^('(?:[^']|'')*'|"(?:[^"\\]|\\.)*"|[^'"#][^:#]*?)\s*:(?:\s+(.*)|$)/.exec(text);
  if (!m) {
    return undefined;
  }
  const key = scalar(m[1], 'key');
  return [String(key), m[2] ?? ''];
}

export function parseYaml(source: string, file = '.dvc file'): YamlValue {
  const lines: ILine[] = [];
  source.split(/\r?\n/).forEach((raw, i) => {
    if (raw.includes('\t') && /^\s*\t/.test(raw)) {
      throw new DvcFileError(`${file}:${i + 1}: tabs are not allowed for indentation in YAML`);
    }
    const text = stripComment(raw);
    if (text.trim() === '' || text.trim() === '---') {
      return;
    }
    lines.push({ indent: text.length - text.trimStart().length, text: text.trim(), no: i + 1 });
  });
  let pos = 0;

  const parseBlock = (indent: number): YamlValue => {
    const first = lines[pos];
    if (first.text.startsWith('- ') || first.text === '-') {
      const list: YamlValue[] = [];
      while (pos < lines.length && lines[pos].indent === indent && (lines[pos].text.startsWith('- ') || lines[pos].text === '-')) {
        const line = lines[pos];
        const rest = line.text === '-' ? '' : line.text.slice(2).trimStart();
        if (rest === '') {
          pos++;
          list.push(pos < lines.length && lines[pos].indent > indent ? parseBlock(lines[pos].indent) : null);
        } else if (splitKey(rest)) {
          // "- key: value" opens a mapping whose keys sit at the column after "- ".
          const column = line.indent + (line.text.length - rest.length);
          lines[pos] = { indent: column, text: rest, no: line.no };
          list.push(parseBlock(column));
        } else {
          pos++;
          list.push(scalar(rest, `${file}:${line.no}`));
        }
      }
      return list;
    }
    const map: { [key: string]: YamlValue } = {};
    while (pos < lines.length && lines[pos].indent === indent) {
      const line = lines[pos];
      const kv = splitKey(line.text);
      if (!kv) {
        throw new DvcFileError(`${file}:${line.no}: expected "key: value", found ${JSON.stringify(line.text)}`);
      }
      const [key, value] = kv;
      pos++;
      if (value.trim() !== '') {
        map[key] = scalar(value, `${file}:${line.no}`);
      } else if (pos < lines.length && (lines[pos].indent > indent || (lines[pos].indent === indent && lines[pos].text.startsWith('-')))) {
        map[key] = parseBlock(lines[pos].indent);
      } else {
        map[key] = null;
      }
    }
    if (pos < lines.length && lines[pos].indent > indent) {
      throw new DvcFileError(`${file}:${lines[pos].no}: unexpected indentation`);
    }
    return map;
  };

  if (lines.length === 0) {
    return null;
  }
  const value = parseBlock(lines[0].indent);
  if (pos < lines.length) {
    throw new DvcFileError(`${file}:${lines[pos].no}: unexpected content ${JSON.stringify(lines[pos].text)}`);
  }
  return value;
}

export function parseDvcFile(source: string, file = '.dvc file'): IDvcFile {
  const doc = parseYaml(source, file);
  if (!doc || typeof doc !== 'object' || Array.isArray(doc) || !Array.isArray(doc.outs)) {
    throw new DvcFileError(`${file} is not a DVC file: it has no "outs" list`, { file });
  }
  const { outs, ...extra } = doc;
  return {
    outs: (outs as YamlValue[]).map((o, i) => {
      if (!o || typeof o !== 'object' || Array.isArray(o) || typeof o.path !== 'string') {
        throw new DvcFileError(`${file}: outs[${i}] has no path`, { file });
      }
      const { md5, size, nfiles, hash, path, ...rest } = o;
      return {
        md5: typeof md5 === 'string' ? md5 : '',
        ...(typeof size === 'number' ? { size } : {}),
        ...(typeof nfiles === 'number' ? { nfiles } : {}),
        ...(typeof hash === 'string' ? { hash } : {}),
        path,
        ...(Object.keys(rest).length > 0 ? { extra: rest } : {})
      };
    }),
    ...(Object.keys(extra).length > 0 ? { extra } : {})
  };
}

// ---- writing ---------------------------------------------------------------------------------

const YAML_SPECIAL = /^(?:true|false|yes|no|on|off|y|n|null|~|[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|\.inf|\.nan)$/i;

/** A scalar as ruamel writes it: plain when safe, else single-quoted. */
export function yamlScalar(value: YamlValue): string {
  if (value === null) {
    return 'null';
  }
  if (typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  const s = String(value);
  const plain =
    s !== '' &&
    !YAML_SPECIAL.test(s) &&
    !/^[\s\-?:,[\]{}#&*!|>'"%@`]/.test(s) &&
    !/[:#]\s|\s#|:$|\s$|[\n\r\t]/.test(s) &&
    /^[\x20-\x7e]*$/.test(s);
  if (plain) {
    return s;
  }
  if (/[\n\r\t]|[^\x20-\x7e]/.test(s)) {
    return JSON.stringify(s);
  }
  return `'${s.replace(/'/g, "''")}'`;
}

function emit(value: YamlValue, indent: string, out: string[]): void {
  if (Array.isArray(value)) {
    for (const item of value) {
      if (item && typeof item === 'object' && !Array.isArray(item) && Object.keys(item).length > 0) {
        const sub: string[] = [];
        emit(item, indent + '  ', sub);
        out.push(indent + '- ' + sub[0].slice(indent.length + 2), ...sub.slice(1));
      } else {
        out.push(`${indent}- ${yamlScalar(item as YamlValue)}`);
      }
    }
    return;
  }
  for (const [key, v] of Object.entries(value as Record<string, YamlValue>)) {
    if (Array.isArray(v) && v.length > 0) {
      out.push(`${indent}${yamlScalar(key)}:`);
      emit(v, indent, out); // DVC (ruamel) does not indent sequences under a key
    } else if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
      out.push(`${indent}${yamlScalar(key)}:`);
      emit(v, indent + '  ', out);
    } else if (Array.isArray(v)) {
      out.push(`${indent}${yamlScalar(key)}: []`);
    } else if (v && typeof v === 'object') {
      out.push(`${indent}${yamlScalar(key)}: {}`);
    } else {
      out.push(`${indent}${yamlScalar(key)}: ${yamlScalar(v as YamlValue)}`);
    }
  }
}

export function dumpYaml(value: YamlValue): string {
  const out: string[] = [];
  emit(value, '', out);
  return out.join('\n') + '\n';
}

/** The `.dvc` file text, keys in the order DVC writes them (md5, size, nfiles, hash, path). */
export function formatDvcFile(file: IDvcFile): string {
  const outs = file.outs.map(o => {
    const out: Record<string, YamlValue> = { md5: o.md5 };
    if (o.size !== undefined) {
      out.size = o.size;
    }
    if (o.nfiles !== undefined) {
      out.nfiles = o.nfiles;
    }
    out.hash = o.hash ?? 'md5';
    out.path = o.path;
    return { ...out, ...(o.extra ?? {}) };
  });
  return dumpYaml({ ...(file.extra ?? {}), outs } as YamlValue);
}
