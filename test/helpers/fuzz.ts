import { parse, stringify } from 'yaml';

/** A small seeded PRNG (mulberry32): the same seed gives the same inputs in every run. */
export function rng(seed: number): { int(n: number): number; pick<T>(xs: readonly T[]): T; chance(p: number): boolean } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (n) => Math.floor(next() * n),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
    chance: (p) => next() < p,
  };
}

type R = ReturnType<typeof rng>;

const hostile = [
  '', ' ', '\n', 'a\nb', 'x\u0000y', '\t', '\u001b[31m', '/mnt/a b', '/mnt/a\n/dev/sda1 / ext4 defaults 0 0', '%n', '$(id)', '"', "'", '\\',
  '..', '/../etc', '-1', '1e309', 'NaN', 'true', 'null', '~', '&a', '*a', '? x', '{', '[', ']', '}', ':', '- x', '#', '|', '>',
  'ü', '\u202e', '\ud800', 'x'.repeat(300), '0'.repeat(70), 'K10' + 'a'.repeat(64) + '::server:pw', '2week\nStorage=none',
];

function randomValue(r: R, depth = 0): unknown {
  switch (r.int(depth > 2 ? 6 : 9)) {
    case 0: return r.pick(hostile);
    case 1: return r.int(2) ? r.int(100000) : -r.int(10);
    case 2: return r.chance(0.5);
    case 3: return null;
    case 4: return r.pick(hostile) + r.pick(hostile);
    case 5: return r.int(1 << 30) / 7;
    case 6: return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
    case 7: return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(['a', 'path', 'uuid', 'token', 'x y', '']), randomValue(r, depth + 1)]));
    default: return String(r.int(1000));
  }
}

/** Every [path] to a value in a plain object tree. */
function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function setIn(obj: any, path: (string | number)[], value: unknown): void {
  if (!path.length) return;
  let cur = obj;
  for (const k of path.slice(0, -1)) cur = cur[k];
  if (value === undefined) {
    if (Array.isArray(cur)) cur.splice(Number(path.at(-1)), 1);
    else delete cur[path.at(-1)!];
  } else cur[path.at(-1)!] = value;
}

/** One mutated YAML text: value-level (a field set, removed or added) or text-level (lines, bytes, YAML syntax). */
export function mutate(text: string, r: R): { text: string; how: string } {
  const kind = r.int(12);
  const lines = text.split('\n');
  const line = r.int(lines.length);
  switch (kind) {
    case 0:
    case 1:
    case 2:
    case 3: {
      const data = parse(text);
      const all = paths(data).filter((p) => p.length);
      const p = r.pick(all);
      const value = r.chance(0.15) ? undefined : randomValue(r);
      setIn(data, p, value);
      return { text: stringify(data, { lineWidth: 0 }), how: `set ${p.join('.')}` };
    }
    case 4: {
      const data = parse(text);
      const all = paths(data).filter((p) => p.length && !Array.isArray(data));
      const p = r.pick(all);
      const parent = p.slice(0, -1);
      const obj = parent.reduce((o: any, k) => o?.[k], data);
      if (obj && typeof obj === 'object' && !Array.isArray(obj)) obj[r.pick(['extra', 'K10' + 'b'.repeat(64) + '::server:leak-me', 'x y', 'path', '0'])] = randomValue(r);
      return { text: stringify(data, { lineWidth: 0 }), how: `add key under ${parent.join('.')}` };
    }
    case 5:
      lines.splice(line, 1);
      return { text: lines.join('\n'), how: `delete line ${line + 1}` };
    case 6:
      lines.splice(line, 0, lines[r.int(lines.length)]!);
      return { text: lines.join('\n'), how: `duplicate a line at ${line + 1}` };
    case 7:
      return { text: text.slice(0, r.int(text.length)), how: 'truncated' };
    case 8: {
      const at = r.int(text.length);
      return { text: text.slice(0, at) + r.pick(hostile) + text.slice(at), how: `insert at byte ${at}` };
    }
    case 9:
      lines[line] = ' '.repeat(r.int(5)) + lines[line]!.trimStart();
      return { text: lines.join('\n'), how: `reindent line ${line + 1}` };
    case 10: {
      const bombs = [
        '',
        '[' .repeat(200 + r.int(5000)),
        'x: ' + '{a: '.repeat(100 + r.int(1000)),
        '- '.repeat(100 + r.int(2000)) + 'x',
        '? [a]\n: b',
        ['a: &a [x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `b${i}: &a${i} [${Array(9).fill(i ? `*a${i - 1}` : '*a').join(', ')}]`)].join('\n'),
        'x: *nope',
        'x: !!binary zz',
        'x: !custom 1',
      ];
      const bomb = r.pick(bombs);
      return { text: r.chance(0.5) ? bomb : `${text}\n${bomb}\n`, how: 'bomb' };
    }
    default: {
      const at = r.int(text.length);
      const byte = String.fromCharCode(r.int(128));
      return { text: text.slice(0, at) + byte + text.slice(at + 1), how: `byte ${byte.charCodeAt(0)} at ${at}` };
    }
  }
}
