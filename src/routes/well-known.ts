import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { answer } from '../schemas/components.js'
import { AuthorizationServerMetadata, Jwks } from '../schemas/jwt.js'
import { PUBLIC } from '../schemas/security.js'

export interface WellKnownOptions {
  issuer: string
  /** Where the auth routes are mounted, and this service's public URL. */
  authPrefix: string
  publicUrl: string
  jwksMaxAgeSeconds: number
}

/**
 * /.well-known/jwks.json and /.well-known/oauth-authorization-server (RFC 8414): what a service needs to verify our
 * access tokens offline. The key set is cached for JWKS_MAX_AGE; a new key is published twice as long before it signs.
 */
const wellKnownRoutes: FastifyPluginAsyncTypebox<WellKnownOptions> = async (app, { issuer, authPrefix, publicUrl, jwksMaxAgeSeconds }) => {
  app.get(
    '/jwks.json',
    {
      schema: {
        operationId: 'getJwks',
        summary: 'The public keys that verify our JWT access tokens (EdDSA, Ed25519)',
        tags: ['jwt'],
        security: PUBLIC,
        response: { 200: answer('The key set: every key that signs now, will sign soon, or signed a token that has not expired', Jwks) },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', `public, max-age=${jwksMaxAgeSeconds}`)
      return app.accessTokenIssuer.publishedKeys()
    },
  )

  const endpoint = (path: string) => `${publicUrl}${authPrefix}${path}`
  const metadata = {
    issuer,
    jwks_uri: `${publicUrl}/.well-known/jwks.json`,
    token_endpoint: endpoint('/refresh'),
    revocation_endpoint: endpoint('/revoke'),
    introspection_endpoint: endpoint('/introspect'),
    grant_types_supported: ['refresh_token'],
    token_endpoint_auth_methods_supported: ['none'],
    revocation_endpoint_auth_methods_supported: ['none'],
    introspection_endpoint_auth_methods_supported: ['bearer'],
    response_types_supported: [],
  }
  app.get(
    '/oauth-authorization-server',
    {
      schema: {
        operationId: 'getAuthorizationServerMetadata',
        summary: 'Authorization server metadata (RFC 8414): the issuer, the key set and the token endpoints',
        tags: ['jwt'],
        security: PUBLIC,
        response: { 200: answer('The metadata', AuthorizationServerMetadata) },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', `public, max-age=${jwksMaxAgeSeconds}`)
      return metadata
    },
  )
}

export default wellKnownRoutes
