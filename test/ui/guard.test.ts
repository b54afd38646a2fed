import { describe, expect, it } from 'vitest';
import { guard } from '../../src/ui/guard.js';

const T = 'tok_EN-0123456789abcdefghijkl';
const H = '127.0.0.1:8080';
const json = { 'content-type': 'application/json', origin: `http://${H}`, host: H };

describe('guard: Host, token, Origin', () => {
  it.each([
    // method, url, headers, expected status (0 = allowed) and path
    ['GET', `/${T}/`, { host: H }, 0, '/'],
    ['GET', `/${T}`, { host: H }, 0, '/'],
    ['GET', `/${T}/api/nodes?x=1`, { host: 'localhost:9999' }, 0, '/api/nodes'],
    ['GET', `/${T}/`, { host: '127.0.0.1' }, 0, '/'],
    ['GET', `/${T}/`, { host: H, 'sec-fetch-site': 'none' }, 0, '/'],
    ['GET', `/${T}/events`, { host: H, 'sec-fetch-site': 'same-origin' }, 0, '/events'],
    ['POST', `/${T}/api/burn`, json, 0, '/api/burn'],
    ['POST', `/${T}/api/burn`, { ...json, 'content-type': 'application/json; charset=utf-8' }, 0, '/api/burn'],
    ['GET', '/', { host: H }, 403, /token/],
    ['GET', `/${T.slice(0, -1)}/`, { host: H }, 403, /token/],
    ['GET', `/${T}x/`, { host: H }, 403, /token/],
    ['GET', `/api/nodes?token=${T}`, { host: H }, 403, /token/],
    ['GET', `/${T}/`, { host: 'evil.example:8080' }, 403, /Host/],
    ['GET', `/${T}/`, { host: '127.0.0.1.nip.example:8080' }, 403, /Host/],
    ['GET', `/${T}/`, { host: '[::1]:8080' }, 403, /Host/],
    ['GET', `/${T}/`, {}, 403, /Host/],
    ['GET', `/${T}/`, { host: H, 'sec-fetch-site': 'cross-site' }, 403, /cross-site/],
    ['GET', `/${T}/`, { host: H, 'sec-fetch-site': 'same-site' }, 403, /cross-site/],
    ['POST', `/${T}/api/burn`, { ...json, origin: 'http://evil.example' }, 403, /Origin/],
    ['POST', `/${T}/api/burn`, { ...json, origin: 'http://127.0.0.1:8081' }, 403, /Origin/],
    ['POST', `/${T}/api/burn`, { ...json, origin: 'null' }, 403, /Origin/],
    ['POST', `/${T}/api/burn`, { host: H, 'content-type': 'application/json' }, 403, /Origin/],
    ['POST', `/${T}/api/burn`, { ...json, 'content-type': 'text/plain' }, 415, /JSON/],
    ['POST', `/${T}/api/burn`, { ...json, 'content-type': 'application/x-www-form-urlencoded' }, 415, /JSON/],
    ['POST', `/${T}/api/burn`, { ...json, 'sec-fetch-site': 'same-site' }, 403, /cross-site/],
    ['POST', '/api/burn', json, 403, /token/],
    ['OPTIONS', `/${T}/api/burn`, { host: H, origin: 'http://evil.example' }, 405, /method/],
    ['PUT', `/${T}/api/burn`, json, 405, /method/],
  ] as const)('%s %s %o → %s', (method, url, headers, status, what) => {
    const v = guard({ method, url, headers }, T);
    if (status === 0) expect(v).toEqual({ ok: true, path: what });
    else {
      expect(v.ok).toBe(false);
      if (!v.ok) {
        expect(v.status).toBe(status);
        expect(v.reason).toMatch(what);
        expect(v.reason).not.toContain(T);
      }
    }
  });
});
