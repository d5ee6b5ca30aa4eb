import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import type { AppConfig } from './config.js'
import { withoutSecrets } from './lib/url-secrets.js'
import { clientErrorHandler } from './platform/http/client-error.js'
import sessionService, { type SessionServiceOptions } from './plugin.js'
import { deferredChildLogger } from './platform/logging.js'

export const BODY_LIMIT_BYTES = 1024 * 1024

export interface BuildOptions extends Omit<SessionServiceOptions, 'config'> {
  /** Pino options, or false for none (the default: tests and tools stay quiet). */
  logger?: FastifyServerOptions['logger']
}

/** Headers and fields that must never reach a log line. */
export const REDACTED_LOG_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'res.headers["set-cookie"]',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.passwordHash',
  // Two-factor secrets: a TOTP seed, recovery codes, a pending login's ID.
  '*.secret',
  '*.totpSecret',
  '*.recoveryCodes',
  '*.mfaToken',
  // The arguments of a Redis command that failed (ioredis puts them on its errors): a password hash, a sealed secret.
  '*.command.args',
  '*.previousErrors[*].command.args',
  // PostgreSQL's detail of a refused row ("Failing row contains (...)") quotes every column: a password hash.
  '*.detail',
]

/**
 * How a request is shown in a log line: Fastify's fields, with the URL's secrets (a mailed link's token) redacted, as
 * paths cannot (the URL is one string).
 */
export const LOG_SERIALIZERS = {
  req: (request: FastifyRequest) => ({
    method: request.method,
    url: withoutSecrets(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }),
}

/** An X-Request-Id from a proxy or client is kept when it looks like one, so a request can be followed across hops. */
const REQUEST_ID = /^[\w.:-]{1,64}$/

export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers['x-request-id']
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
}

/**
 * The standalone server: a Fastify instance with the server's own options (logging, proxies, request ids), and the
 * service registered in it as a plugin (src/plugin.ts), as a host would. Resolves once Redis and PostgreSQL are
 * connected and the schema is current; rejects with RedisUnreachableError, DatabaseUnreachableError or
 * SchemaMismatchError otherwise.
 */
export async function buildApp(config: AppConfig, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    trustProxy: config.trustProxy,
    bodyLimit: BODY_LIMIT_BYTES,
    clientErrorHandler,
    genReqId: requestIdOf,
    childLoggerFactory: deferredChildLogger,
  })
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
  const { logger: _logger, ...service } = options
  try {
    await app.register(sessionService, { config, ...service })
  } catch (error) {
    // What started before the failure (the Redis connection) must not keep the process alive.
    await app.close().catch(() => {})
    throw error
  }
  return app
}
