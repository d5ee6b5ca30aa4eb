import { timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { IntrospectionUnauthorized } from '../../errors.js'
import { bearerTokenOf } from '../../sessions/index.js'
import { TokenPair } from '../../schemas/auth.js'
import { answer, ref } from '../../schemas/components.js'
import { errorResponses } from '../../schemas/error.js'
import { IntrospectionResponse, RefreshRequest, RevocationResponse, TokenRequest } from '../../schemas/jwt.js'
import { INTROSPECTION_SECURITY, PUBLIC } from '../../schemas/security.js'

export interface JwtRoutesOptions {
  introspectionSecret: string | null
}

/** Compared as bytes: a header of as many characters may hold more bytes (Latin-1), which timingSafeEqual would throw on. */
function sameSecret(given: string, expected: string): boolean {
  const [a, b] = [Buffer.from(given), Buffer.from(expected)]
  return a.length === b.length && timingSafeEqual(a, b)
}

/**
 * POST /auth/refresh, /auth/revoke (RFC 7009) and /auth/introspect (RFC 7662): what clients with a refresh token and
 * services holding an access token call. No session is loaded here: the token in the body is the credential (the
 * session plugin would read an Authorization header as a session), so these routes are registered beside the session
 * scope, and the introspection secret is compared here.
 */
const jwtRoutes: FastifyPluginAsyncTypebox<JwtRoutesOptions> = async (app, { introspectionSecret }) => {
  // RFC 7009 and RFC 7662 clients send forms: parsed into the same object JSON gives, then validated alike.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)))
  })

  app.post(
    '/refresh',
    {
      schema: {
        operationId: 'refreshTokens',
        summary: 'Spend a refresh token for a new access token and refresh token; a spent token presented again ends its session',
        tags: ['jwt'],
        security: PUBLIC,
        body: RefreshRequest,
        response: { 200: answer('The next pair (the same pair to a retry within REFRESH_REUSE_WINDOW)', ref(TokenPair)), ...errorResponses('INVALID_REFRESH_TOKEN', 'STORE_UNAVAILABLE') },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store')
      return app.jwtSessions.refresh(request.body.refreshToken, request)
    },
  )

  app.post(
    '/revoke',
    {
      schema: {
        operationId: 'revokeToken',
        summary: 'End the session of a refresh token or an access token (RFC 7009): its refresh token is refused at once, its access tokens here at once',
        tags: ['jwt'],
        security: PUBLIC,
        body: TokenRequest,
        response: { 200: answer('Revoked, or there was nothing to revoke', RevocationResponse), ...errorResponses('STORE_UNAVAILABLE') },
      },
    },
    async (request) => {
      await app.jwtSessions.revoke(request.body.token, request)
      return {}
    },
  )

  app.post(
    '/introspect',
    {
      schema: {
        operationId: 'introspectToken',
        summary: 'Whether a token is active now (RFC 7662), for services that must see a revocation at once: needs INTROSPECTION_SECRET',
        tags: ['jwt'],
        security: INTROSPECTION_SECURITY,
        body: TokenRequest,
        response: { 200: answer('active, and for an active token its claims', IntrospectionResponse), ...errorResponses('UNAUTHENTICATED', 'STORE_UNAVAILABLE') },
      },
    },
    async (request, reply) => {
      const given = bearerTokenOf(request.headers.authorization)
      if (introspectionSecret === null || given === null || !sameSecret(given, introspectionSecret)) throw new IntrospectionUnauthorized()
      reply.header('cache-control', 'no-store')
      return app.jwtSessions.introspect(request.body.token)
    },
  )
}

export default jwtRoutes
