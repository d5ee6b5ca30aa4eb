import fp from 'fastify-plugin'
import { CsrfRejected } from '../../errors.js'

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
const SAME_SITE_FETCHES = new Set(['same-origin', 'same-site', 'none'])

export interface RequestOrigin {
  origin: string | undefined
  secFetchSite: string | undefined
  /** The host the request was sent to (behind a trusted proxy, the forwarded one). */
  host: string
}

/**
 * True when the browser says the request comes from another site that is not an allowed CORS origin. Requests that
 * carry neither Origin nor Sec-Fetch-Site (curl, other servers) are not from a browser page and pass.
 */
export function isCrossSite({ origin, secFetchSite, host }: RequestOrigin, allowedOrigins: ReadonlySet<string>): boolean {
  if (secFetchSite !== undefined && SAME_SITE_FETCHES.has(secFetchSite)) return false
  if (origin !== undefined) {
    if (allowedOrigins.has(origin)) return false
    try {
      const { protocol, host: originHost } = new URL(origin)
      // Parsed the same way, so that default ports compare equal (localhost:80 and http://localhost).
      return originHost !== new URL(`${protocol}//${host}`).host
    } catch {
      return true // "null" or garbage: an opaque origin is never ours
    }
  }
  return secFetchSite === 'cross-site'
}

/**
 * Cross-site request forgery: an unsafe request that carries a session cookie is refused when it comes from another
 * site. SameSite=Lax already keeps the cookie off most cross-site requests; this covers the rest (same-site
 * subdomains aside, older browsers, top-level POST navigations in some browsers).
 */
export default fp<{ allowedOrigins: string[] }>(
  async function csrfPlugin(app, options) {
    const allowedOrigins = new Set(options.allowedOrigins)
    app.addHook('onRequest', (request, _reply, done) => {
      // A bearer token is sent by the client's code, never by the browser on its own: nothing to forge.
      if (!UNSAFE_METHODS.has(request.method) || request.bearer || app.sessionCookie.signedId(request) === null) return done()
      const { origin, 'sec-fetch-site': secFetchSite } = request.headers
      const secFetch = typeof secFetchSite === 'string' ? secFetchSite : undefined
      if (isCrossSite({ origin, secFetchSite: secFetch, host: request.host }, allowedOrigins)) {
        request.log.info({ origin, secFetchSite }, 'cross-site request refused')
        return done(new CsrfRejected())
      }
      done()
    })
  },
  { name: 'csrf', dependencies: ['session'] },
)
