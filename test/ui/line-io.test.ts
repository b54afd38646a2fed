import { Script } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { lineSplitter, parseJsonOutput } from '../../src/ui/line-io.js';
import { APP_JS } from '../../src/ui/page/app-js.js';
import { INDEX_HTML } from '../../src/ui/page/index-html.js';

describe('line-io', () => {
  it('splits chunks into whole lines, CRLF too, and flushes the rest', () => {
    const lines: string[] = [];
    const s = lineSplitter((l) => lines.push(l));
    s.write('{"a":');
    s.write('1}\r\npartial');
    expect(lines).toEqual(['{"a":1}']);
    s.write(' line\nlast');
    s.flush();
    expect(lines).toEqual(['{"a":1}', 'partial line', 'last']);
  });

  it.each([
    ['[{"path":"/dev/sdb"}]\n', [{ path: '/dev/sdb' }]],
    ['{"event":"a"}\n{"event":"b"}\n', [{ event: 'a' }, { event: 'b' }]],
    ['', undefined],
    ['not json\n', undefined],
  ])('parseJsonOutput(%j)', (out, want) => {
    expect(parseJsonOutput(out)).toEqual(want);
  });
});

describe('the page', () => {
  it('its script parses, and it builds text with textContent only (no innerHTML, no eval)', () => {
    expect(() => new Script(APP_JS)).not.toThrow();
    expect(APP_JS).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
  });

  it('loads only relative URLs (they stay under the launch token), nothing from elsewhere, no inline script', () => {
    const urls = [...INDEX_HTML.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
    expect(urls).toEqual(['app.css', 'app.js']);
    expect(INDEX_HTML).not.toMatch(/<script>|<style>|\son[a-z]+="/);
    for (const m of APP_JS.matchAll(/(?:fetch|api|EventSource)\('([^']*)'/g)) expect(m[1]).toMatch(/^(api\/|events$)/);
  });

  it('every form control has a label', () => {
    const ids = [...INDEX_HTML.matchAll(/<input[^>]*id="([^"]+)"/g)].map((m) => m[1]);
    expect(ids.length).toBeGreaterThan(2);
    for (const id of ids) expect(INDEX_HTML, id).toContain(`for="${id}"`);
  });
});
