// How scripts/build.mjs puts a bundle's main module into its entry file (see lazyMainPlugin there).
import { deflateRawSync } from 'node:zlib';

/**
 * `code` itself when it is ASCII, else an error naming `entry`, the character and where it is.
 * One character above U+00FF makes V8 hold the whole module as a two-byte string (twice the
 * memory to copy and scan at every start); esbuild escapes what it can, not a String.raw text.
 */
export function asciiOnly(code, entry) {
  const m = /[^\x00-\x7f]/u.exec(code);
  if (!m) return code;
  const u = `U+${m[0].codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  throw new Error(`${entry}: the bundled code has ${JSON.stringify(m[0])} (${u}) where it reads ${JSON.stringify(code.slice(Math.max(0, m.index - 60), m.index + 10))}; write it as a \\u escape (or an HTML entity) in the source`);
}

/**
 * A JavaScript expression whose value is `code` (ASCII): a string literal, or with `deflate` the
 * code deflated, in base64, inflated by node's zlib when the expression runs (`require` and
 * `Buffer` in scope).
 */
export function embedded(code, pack) {
  if (pack === undefined) return JSON.stringify(code);
  if (pack !== 'deflate') throw new Error(`unknown pack ${pack}`);
  const b64 = deflateRawSync(code, { level: 9 }).toString('base64');
  // One output chunk the code's size: zlib hands it back as it is, no gathering of 16 KiB pieces.
  return `require('node:zlib').inflateRawSync(Buffer.from(${JSON.stringify(b64)}, 'base64'), { chunkSize: ${code.length + 1024} }).toString('latin1')`;
}
