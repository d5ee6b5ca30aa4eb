import t from 'tap'
import { isCrossSite } from '../../src/platform/http/csrf.js'
import { build, loggedIn } from '../support/helper.js'

const ALLOWED = 'https://app.example'

t.test('isCrossSite', async (t) => {
  const allowed = new Set([ALLOWED])
  const host = 'api.example'
  const cases: Array<[string, string | undefined, string | undefined, boolean]> = [
    ['no headers (curl, servers)', undefined, undefined, false],
    ['an allowed origin', ALLOWED, undefined, false],
    ['the same origin', 'https://api.example', undefined, false],
    ['another origin', 'https://evil.example', undefined, true],
    ['the same host on another port', 'https://api.example:8443', undefined, true],
    ['an opaque origin', 'null', undefined, true],
    ['Sec-Fetch-Site: cross-site', undefined, 'cross-site', true],
    ['Sec-Fetch-Site: same-origin', undefined, 'same-origin', false],
    ['Sec-Fetch-Site: same-site with a sibling origin', 'https://www.example', 'same-site', false],
    ['Sec-Fetch-Site: none (typed URL, bookmark)', undefined, 'none', false],
    ['cross-site from an allowed origin', ALLOWED, 'cross-site', false],
    ['cross-site with an Origin naming our host', 'https://api.example', 'cross-site', true],
    ['our host over http:// on an https service', 'http://api.example', undefined, true],
    ['our host with its default port spelled out', 'https://api.example:443', undefined, false],
  ]
  for (const [name, origin, secFetchSite, expected] of cases) {
    t.equal(isCrossSite({ origin, secFetchSite, host, protocol: 'https' }, allowed), expected, name)
  }
})

t.test('an unsafe request with the session cookie from another site answers 403 CSRF_REJECTED', async (t) => {
  const app = await build(t, { CORS_ORIGINS: ALLOWED })
  const cookie = await loggedIn(app, 'victim')
  const count = (headers: Record<string, string>) =>
    app.inject({ method: 'POST', url: '/api/count', headers: { cookie, ...headers } })

  const refused = await count({ origin: 'https://evil.example' })
  t.equal(refused.statusCode, 403)
  t.same(refused.json(), { statusCode: 403, error: 'Forbidden', message: 'Cross-site request refused', code: 'CSRF_REJECTED' })
  t.equal((await count({ 'sec-fetch-site': 'cross-site' })).statusCode, 403)
  t.equal((await count({ 'origin': 'http://localhost:80', 'sec-fetch-site': 'cross-site' })).statusCode, 403, "the browser's cross-site wins over our own Origin")
  t.equal((await count({ origin: 'https://localhost:80' })).statusCode, 403, 'our host under another scheme is another origin')

  t.same((await count({})).json(), { views: 1 }, 'the refused requests changed nothing')
  t.same((await count({ origin: ALLOWED })).json(), { views: 2 }, 'an allowed origin passes')
  t.same((await count({ origin: 'http://localhost:80' })).json(), { views: 3 }, 'the same origin passes')

  const logout = await app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie, origin: 'https://evil.example' } })
  t.equal(logout.statusCode, 403, 'a forged logout is refused too')
  t.equal((await app.inject({ url: '/api/dashboard', headers: { cookie, origin: 'https://evil.example' } })).statusCode, 200, 'safe methods pass')
})
