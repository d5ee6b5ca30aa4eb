import { readFileSync } from 'node:fs'
import fp from 'fastify-plugin'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import { htmlSecurityHeaders } from './security-headers.js'

export interface DocsPluginOptions {
  cookieName: string
  /** Whether GET /metrics asks for METRICS_TOKEN: its security scheme is defined only then. */
  metricsTokenRequired: boolean
}

const { version, description } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string
  description: string
}

/**
 * OpenAPI 3.1 generated from the routes' TypeBox schemas (@fastify/swagger) at /docs/json, and a browsable UI at
 * /docs (@fastify/swagger-ui). Registered before every route, so that it sees them all.
 */
export default fp<DocsPluginOptions>(
  async function docsPlugin(app, { cookieName, metricsTokenRequired }) {
    await app.register(fastifySwagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: 'redis-session-api', version, description },
        // Relative: the document describes the service that serves it, wherever it is deployed.
        servers: [{ url: '/', description: 'This service (the origin the document was fetched from)' }],
        tags: [
          { name: 'auth', description: 'Accounts, login and logout' },
          { name: 'recovery', description: 'Email verification and password reset, by mailed links' },
          { name: 'sessions', description: "A user's own sessions" },
          { name: 'api', description: 'Routes behind the session guard' },
          { name: 'tokens', description: 'Personal access tokens for scripts and other services' },
          { name: 'jwt', description: 'JWT access tokens and refresh tokens for other services and clients that are not browsers' },
          { name: 'admin', description: 'Routes that need the admin role' },
          { name: 'operations', description: 'Health checks and metrics' },
        ],
        components: {
          securitySchemes: {
            sessionCookie: { type: 'apiKey', in: 'cookie', name: cookieName, description: 'Set by POST /auth/login' },
            bearerAuth: {
              type: 'http',
              scheme: 'bearer',
              description: 'The token of POST /auth/login with "transport": "token", a personal access token, or a JWT access token ("transport": "jwt")',
            },
            introspectionSecret: { type: 'http', scheme: 'bearer', description: 'INTROSPECTION_SECRET' },
            ...(metricsTokenRequired ? { metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN' } } : {}),
          },
        },
      },
      // Named schemas (app.addSchema) appear under components.schemas by their own names, not def-0, def-1...
      refResolver: { buildLocalReference: (schema, _baseUri, _fragment, index) => (typeof schema.$id === 'string' ? schema.$id : `def-${index}`) },
    })
    // Pages a browser renders: helmet's full set (its strict CSP suits the UI, which runs no inline script).
    const htmlHeaders = htmlSecurityHeaders()
    await app.register(fastifySwaggerUi, {
      routePrefix: '/docs',
      uiConfig: { withCredentials: true },
      uiHooks: {
        onRequest: (_request, reply, done) => {
          reply.headers(htmlHeaders)
          done()
        },
      },
    })
  },
  { name: 'docs', dependencies: ['security-headers'] },
)
