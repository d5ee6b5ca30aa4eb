import fp from 'fastify-plugin'
import type { SessionTimeouts } from '../lib/session-timeouts.js'
import { retriedAtStart } from '../platform/database/start-retries.js'
import type { AccessTokenIssuer } from './access-tokens.js'
import { jwtSessions, type JwtSessions } from './service.js'
import { signingKeyStore, type KeySchedule } from './signing-keys.js'

declare module 'fastify' {
  interface FastifyInstance {
    jwtSessions: JwtSessions
    accessTokenIssuer: AccessTokenIssuer
  }
}

export interface TokensPluginOptions {
  issuer: AccessTokenIssuer
  secrets: string[]
  schedule: KeySchedule
  /** How often each instance looks for a new or dropped key. */
  reloadIntervalMs: number
  timeouts: SessionTimeouts
  accessTokenTtlSeconds: number
  reuseWindowMs: number
}

/**
 * JWT sessions on top of the sessions concern: the signing keys (loaded before the first request, then reloaded on a
 * timer, so that a key made by another instance is known here before it signs) and the service routes call.
 */
export default fp<TokensPluginOptions>(
  async function tokensPlugin(app, options) {
    const { issuer, schedule } = options
    const keys = signingKeyStore(app.db, options.secrets, schedule)
    issuer.useKeys(await retriedAtStart(app.log, 'load the JWT signing keys', () => keys.rotate(Date.now())))
    const reload = setInterval(() => {
      keys.rotate(Date.now()).then(issuer.useKeys, (error: unknown) => {
        // The keys loaded last stay in use: they sign and verify until the next reload works.
        app.log.warn({ err: error }, 'could not reload the JWT signing keys; the ones loaded before stay in use')
      })
    }, options.reloadIntervalMs)
    reload.unref()
    app.addHook('onClose', () => clearInterval(reload))

    const { refreshFamilies, sessionIndex, sessionLifecycle } = app
    app.decorate('accessTokenIssuer', issuer)
    app.decorate('jwtSessions', jwtSessions({
      issuer,
      timeouts: options.timeouts,
      accessTokenTtlSeconds: options.accessTokenTtlSeconds,
      reuseWindowMs: options.reuseWindowMs,
      recordEvent: (origin, event, fields) => app.recordEvent(origin, event, fields),
      sessions: {
        beginFamily: (handle) => refreshFamilies.begin(handle),
        findFamily: (token) => refreshFamilies.find(token),
        successor: (token) => refreshFamilies.successor(token),
        rotate: (token, next, windowMs) => refreshFamilies.rotate(token, next, windowMs),
        end: (userId, handle) => sessionLifecycle.endOne(userId, handle),
        touch: (userId, handle, ttlMs, seenAt) => sessionIndex.touch(userId, handle, ttlMs, seenAt),
        exists: (handle) => sessionIndex.exists(handle),
      },
    }))
  },
  { name: 'tokens', dependencies: ['database', 'sessions', 'refresh-families', 'session-index', 'metrics'] },
)
