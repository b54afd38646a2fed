// What scripts/build.mjs checks before it embeds a bundle's main module as one string (lazyMainPlugin).

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
