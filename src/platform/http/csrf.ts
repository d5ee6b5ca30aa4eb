import fp from 'fastify-plugin'
import { CsrfRejected } from '../../errors.js'
import { declareErrors } from '../../schemas/error.js'

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
const SAME_SITE_FETCHES = new Set(['same-origin', 'same-site', 'none'])

export interface RequestOrigin {
  origin: string | undefined
  secFetchSite: string | undefined
  /** The host the request was sent to, and its scheme (behind a trusted proxy, the forwarded ones). */
  host: string
  protocol: string
}

/**
 * True when the browser says the request comes from another site that is not an allowed CORS origin. Requests that
 * carry neither Origin nor Sec-Fetch-Site (curl, other servers) are not from a browser page and pass. The browser's
 * `Sec-Fetch-Site: cross-site` wins over an Origin that merely names our host, and an origin is ours only with our
 * scheme, host and port (an http:// page is not an https service's own).
 */
export function isCrossSite({ origin, secFetchSite, host, protocol }: RequestOrigin, allowedOrigins: ReadonlySet<string>): boolean {
  if (origin !== undefined && allowedOrigins.has(origin)) return false
  if (secFetchSite === 'cross-site') return true
  if (secFetchSite !== undefined && SAME_SITE_FETCHES.has(secFetchSite)) return false
  if (origin === undefined) return false
  try {
    // Parsed the same way, so that default ports compare equal (localhost:80 and http://localhost).
    return new URL(origin).origin !== new URL(`${protocol}://${host}`).origin
  } catch {
    return true // "null" or garbage: an opaque origin is never ours
  }
}

/**
 * Cross-site request forgery: an unsafe request that carries a session cookie is refused when it comes from another
 * site. SameSite=Lax already keeps the cookie off most cross-site requests; this covers the rest (same-site
 * subdomains aside, older browsers, top-level POST navigations in some browsers).
 */
export default fp<{ allowedOrigins: string[] }>(
  async function csrfPlugin(app, options) {
    const allowedOrigins = new Set(options.allowedOrigins)
    app.addHook('onRoute', (route) => {
      if ([route.method].flat().some((method) => UNSAFE_METHODS.has(method))) declareErrors(route, ['CSRF_REJECTED'])
    })
    app.addHook('onRequest', (request, _reply, done) => {
      // A bearer token is sent by the client's code, never by the browser on its own: nothing to forge.
      if (!UNSAFE_METHODS.has(request.method) || request.bearer || app.sessionCookie.signedId(request) === null) return done()
      const { origin, 'sec-fetch-site': secFetchSite } = request.headers
      const secFetch = typeof secFetchSite === 'string' ? secFetchSite : undefined
      if (isCrossSite({ origin, secFetchSite: secFetch, host: request.host, protocol: request.protocol }, allowedOrigins)) {
        request.log.info({ origin, secFetchSite }, 'cross-site request refused')
        return done(new CsrfRejected())
      }
      done()
    })
  },
  { name: 'csrf', dependencies: ['session'] },
)
