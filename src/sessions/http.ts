import fp from 'fastify-plugin'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import type { FastifyReply, FastifyRequest, Session } from 'fastify'
import { LRUCache } from 'lru-cache'
import type { AccountSnapshot } from '../accounts/index.js'
import { AmbiguousCredentials, InsecureTransport, SessionExpired } from '../errors.js'
import { declareErrors } from '../schemas/error.js'
import type { Preferences } from '../schemas/api.js'
import type { AuthMethod } from '../schemas/mfa.js'
import { ACCESS_TOKEN_PREFIX, type TokenGrant } from '../schemas/tokens.js'
import { memoizedSigner } from '../lib/memoized-signer.js'
import type { RedisKeys } from '../lib/keys.js'
import { BY_HANDLE, createFastifySessionStore, sessionHandle } from './fastify-store.js'
import type { SessionStore } from './store.js'
import { expiryAfter, slidExpiry, type SessionTimeouts } from '../lib/session-timeouts.js'

export interface SessionUser {
  id: string
  username: string
  roles: string[]
}

declare module 'fastify' {
  // What a session holds: little, so that reading it stays cheap.
  interface Session {
    user?: SessionUser
    /** Epoch milliseconds of the login that created the session. */
    createdAt?: number
    /**
     * Epoch milliseconds of the last proof of a credential in this session (POST /auth/reauth), and what was proved
     * beyond the password; unset, the login's createdAt and the password alone (read them through authenticatedAt()
     * and authMethod() of sessions/proof.ts).
     */
    authenticatedAt?: number
    authMethod?: AuthMethod
    /** A TOTP enrolment this session started and has not confirmed: the new secret (sealed) and when it was made. */
    mfaEnrolment?: { sealedSecret: string; startedAt: number }
    /** Client IP and User-Agent (at most 256 characters) at login, shown in the user's list of sessions. */
    ip?: string
    userAgent?: string
    /** "Remember me": longer limits and a persistent cookie. */
    remember?: boolean
    views?: number
    /** Display preferences (PATCH /api/preferences). */
    theme?: Preferences['theme']
    language?: string
    /** Set on a personal access token: its name and scopes (see sessions/access-tokens.ts). */
    token?: TokenGrant
    /** Epoch milliseconds of an access token's last use, at touch-interval granularity. */
    lastUsedAt?: number
    /** When Redis drops the session, read from its TTL on load; never stored. */
    expiresAt?: number
    /** The hash the session is stored under (its handle), set on load; never stored. */
    handle?: string
  }
  interface FastifyContextConfig {
    /** The route reads the user's account (request.accountSnapshot()): it is asked for beside the session. */
    readsAccount?: boolean
  }
  interface FastifyInstance {
    sessionCookie: SessionCookie
    /** When a session written now ends: its idle period from now, capped by its absolute limit. */
    sessionEndsAt(session: Session): number
  }
  interface FastifyRequest {
    /**
     * True when the session travels as `Authorization: Bearer <token>` rather than a cookie (or a login asked for a
     * token): no cookie is ever set on the response, and CSRF checks do not apply (no ambient credential).
     */
    bearer: boolean
    /**
     * The bearer was a JWT access token: its claims once verified (its session is then the request's session), or
     * 'refused' (invalid, expired, not ours); null for any other request.
     */
    accessToken: VerifiedAccessToken | 'refused' | null
    /** The account read started beside the session's (sessionPlugin), for the user the cookie was remembered as. */
    accountRead: { userId: string; snapshot: Promise<AccountSnapshot | null> } | null
    /** When this request's logged-in session ends, after any slide of its idle expiry; null without one. */
    sessionExpiresAt: number | null
    /**
     * Adds `by` (default 1) to an integer session field in Redis, atomically: exact under any number of concurrent
     * requests, on any instance. Resolves to the new value (also set on `request.session`); rejects with
     * SESSION_EXPIRED when the session was ended meanwhile.
     */
    incrementSessionField(field: NumericSessionField, by?: number): Promise<number>
    /**
     * The account of the session's user, from its snapshot in Redis (accounts/snapshots.ts); null when the account is
     * gone. On a route with `config.readsAccount`, read in the same round trip as the session where this process
     * has seen the session before.
     */
    accountSnapshot(): Promise<AccountSnapshot | null>
  }
}

/** The session fields that hold a number. */
export type NumericSessionField = { [K in keyof Session]-?: Session[K] extends number | undefined ? K : never }[keyof Session]

export interface SessionCookie {
  /** The session ID of a validly signed session cookie on the request (the session may still be gone), else null. */
  signedId(request: FastifyRequest): string | null
  clear(reply: FastifyReply): void
  /** A session ID signed as its cookie (or token) carries it. */
  sign(sessionId: string): string
  /**
   * Throws INSECURE_TRANSPORT when the response to this request could not carry the cookie (a Secure cookie, a
   * request that is not HTTPS by Fastify's trust-proxy rules): call it before creating or re-issuing a session, so
   * that nothing is written for a client that would never get the cookie.
   */
  assertDeliverable(request: FastifyRequest): void
}

/** What the session plugin needs of a verified JWT access token (tokens/access-tokens.ts has the rest). */
export interface VerifiedAccessToken {
  /** The handle of the token's session. */
  sid: string
}

/** Verifies a JWT access token: its claims, or null for anything that is not a valid token of ours. */
export type AccessTokenVerifier = (token: string) => Promise<VerifiedAccessToken | null>

export interface SessionPluginOptions {
  keys: RedisKeys
  secrets: string[]
  cookieName: string
  cookieSecure: boolean
  timeouts: SessionTimeouts
  store: SessionStore
  /** How a JWT access token is verified; without it, one is refused like any unknown bearer token. */
  verifyAccessToken?: AccessTokenVerifier
}

/** Removes the Set-Cookie lines of one cookie from a reply, or with `clearing` only those that clear it; true if any. */
function dropSetCookie(reply: FastifyReply, name: string, { clearing = false } = {}): boolean {
  const header = reply.getHeader('set-cookie')
  // Most answers (every read) set no cookie: nothing to build or filter.
  if (header === undefined) return false
  const start = clearing ? `${name}=;` : `${name}=`
  const lines = [header].flat().map(String)
  const others = lines.filter((line) => !line.startsWith(start))
  if (others.length === lines.length) return false
  reply.removeHeader('set-cookie')
  if (others.length > 0) reply.header('set-cookie', others)
  return true
}

const SESSION_EXPIRED_CODE = new SessionExpired().code

/** Longer than any token we issue (a JWT access token is about 600 characters), short enough to refuse junk without work. */
const MAX_BEARER_TOKEN_LENGTH = 2048
/** A JWS in compact form whose header is a JSON object: what no session ID or personal access token looks like. */
const JWT_SHAPE = /^eyJ[\w-]*\.[\w-]+\.[\w-]+$/
const BEARER = /^Bearer +(\S+)$/i

/** The token of an `Authorization: Bearer <token>` header, else null (other schemes are not ours to read). */
export function bearerTokenOf(authorization: string | undefined): string | null {
  const token = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1]
  return token === undefined || token.length > MAX_BEARER_TOKEN_LENGTH ? null : token
}

/** Signatures remembered per process: enough for the sessions active in a busy minute. */
const SIGNER_MEMO_SIZE = 10_000

/**
 * Cookie parsing and server-side sessions in Redis. Registered only around the routes that use a session,
 * so that health checks and unknown routes skip the cookie and session work entirely.
 */
export default fp<SessionPluginOptions>(
  async function sessionPlugin(app, options) {
    const { timeouts, cookieName } = options
    const endsAt = (session: Session) => expiryAfter(timeouts, session, Date.now())
    const signer = memoizedSigner(options.secrets, SIGNER_MEMO_SIZE)
    const store = createFastifySessionStore({
      redis: app.redis,
      keys: options.keys,
      timeouts,
      index: app.sessionIndex,
      store: options.store,
      onAbsoluteExpiry: (handle) => app.recordEvent({ log: app.log }, 'session_expired', { session: handle, reason: 'absolute' }),
    })
    const cookieAttributes = { path: '/', httpOnly: true, sameSite: 'lax', secure: options.cookieSecure } as const
    await app.register(fastifyCookie, { secret: signer })

    // Every route here may load a session from Redis, find it ended by another request while it ran (sessions/fastify-store.ts),
    // and refuses a cookie and a bearer token at once.
    app.addHook('onRoute', (route) => declareErrors(route, ['STORE_UNAVAILABLE', 'SESSION_EXPIRED', 'AMBIGUOUS_CREDENTIALS']))

    // Bearer sessions are the same sessions: the token is the signed session ID a cookie would carry, handed to
    // @fastify/session as that cookie. Both at once would leave the choice to us: refused instead.
    app.decorateRequest('bearer', false)
    app.decorateRequest('accessToken', null)
    app.addHook('onRequest', (request, _reply, done) => {
      const token = bearerTokenOf(request.headers.authorization)
      if (token === null) return done()
      if (request.cookies[cookieName] !== undefined) return done(new AmbiguousCredentials())
      request.bearer = true
      if (!JWT_SHAPE.test(token)) {
        // A personal access token is a session too: its prefix only lets secret scanners recognise it.
        request.cookies[cookieName] = token.startsWith(ACCESS_TOKEN_PREFIX) ? token.slice(ACCESS_TOKEN_PREFIX.length) : token
        return done()
      }
      // A JWT access token names its session by handle: that session is loaded, and must be live (one read, the
      // session's own), so that a session ended anywhere refuses its access tokens here at once.
      const verified = options.verifyAccessToken?.(token) ?? Promise.resolve(null)
      verified.then((claims) => {
        request.accessToken = claims ?? 'refused'
        if (claims !== null) request.cookies[cookieName] = signer.sign(BY_HANDLE + claims.sid)
        done()
      }, done)
    })

    // A cookie signed with an older SESSION_SECRET is valid, but @fastify/session would see that it differs from the
    // ID signed with the first secret and clear it. Present it re-signed instead, and re-issue it on the response.
    const reissueCookie = new WeakSet<FastifyRequest>()
    app.addHook('onRequest', (request, _reply, done) => {
      const value = request.cookies[cookieName]
      const unsigned = value === undefined ? null : signer.unsign(value)
      if (unsigned?.renew && unsigned.value !== null) {
        request.cookies[cookieName] = signer.sign(unsigned.value)
        reissueCookie.add(request)
      }
      done()
    })
    // A route that reads the account asks Redis for it beside the session, in the same tick, so that both travel in
    // one round trip (one write and one read of the connection instead of two of each, and half the wait), when this
    // process knows whose session the cookie is: a session's user never changes, so that is remembered, per cookie,
    // from an earlier request; the account itself is read afresh every time. A cookie not (or no longer) remembered
    // reads the account after the session, as every other request does.
    const usersOfCookies = new LRUCache<string, string>({ max: SIGNER_MEMO_SIZE })
    app.decorateRequest('accountRead', null)
    app.addHook('onRequest', (request, _reply, done) => {
      const cookie = request.routeOptions.config.readsAccount ? request.cookies[cookieName] : undefined
      const userId = cookie === undefined ? undefined : usersOfCookies.get(cookie)
      if (userId !== undefined) {
        const snapshot = app.accountSnapshots.read(userId)
        // Awaited by the handler; a request refused before it (its session ended) must not leave a rejection unhandled.
        snapshot.catch(() => {})
        request.accountRead = { userId, snapshot }
      }
      done()
    })
    app.decorateRequest('accountSnapshot', function accountSnapshot(this: FastifyRequest) {
      const userId = this.session.user?.id
      if (userId === undefined) return Promise.resolve(null)
      if (this.accountRead?.userId === userId) return this.accountRead.snapshot
      const cookie = this.cookies[cookieName]
      if (cookie !== undefined && this.routeOptions.config.readsAccount) usersOfCookies.set(cookie, userId)
      return app.accountSnapshots.read(userId)
    })

    await app.register(fastifySession, {
      secret: signer,
      cookieName,
      // No expiry by default: a browser-session cookie. "Remember me" sessions get a persistent one (onSend below).
      cookie: cookieAttributes,
      // Only a login creates a session: anonymous requests write nothing to Redis and get no cookie.
      saveUninitialized: false,
      // An unchanged session is not written back; rolling would rewrite it on every request.
      rolling: false,
      store,
    })

    // Sliding expiry: an expiry refresh and a last-seen time, at most once per touch interval, never a rewrite.
    app.decorateRequest('sessionExpiresAt', null)
    app.addHook('onRequest', (request, _reply, done) => {
      const { session } = request
      if (!session.user || session.expiresAt === undefined) return done()
      store.trackLoaded(session)
      const now = Date.now()
      request.sessionExpiresAt = session.expiresAt
      if (session.token) {
        // An access token ends at its fixed expiry, never slid; its last use is saved (one field) once per interval.
        if (now - (session.lastUsedAt ?? 0) >= timeouts.touchIntervalMs) session.lastUsedAt = now
        return done()
      }
      const next = slidExpiry(timeouts, session, session.expiresAt, now)
      if (next === null) return done()
      request.sessionExpiresAt = next
      if (session.remember) reissueCookie.add(request)
      app.sessionIndex.touch(session.user.id, sessionHandle(session), next - now, now).then(() => done(), done)
    })

    app.addHook('onSend', (request, reply, payload, done) => {
      // A bearer client keeps its token; a cookie it never asked for would become an ambient credential.
      if (request.bearer) {
        dropSetCookie(reply, cookieName)
        return done(null, payload)
      }
      // @fastify/session clears a cookie it does not keep with Path alone; a browser drops a Secure (or __Host-) cookie
      // only for a line with the attributes it was set with.
      if (dropSetCookie(reply, cookieName, { clearing: true })) app.sessionCookie.clear(reply)
      const { session } = request
      if (!session?.user) return done(null, payload)
      // Created by this request (a login, a new ID): its key's TTL was set from the session's limits. A session
      // loaded from Redis has an expiresAt, and its writes keep the TTL.
      const created = session.isSaved() && session.expiresAt === undefined
      if (created) request.sessionExpiresAt = endsAt(session)
      if (reissueCookie.has(request) || created) {
        // Replaces the cookie @fastify/session may have set already, which cannot carry Max-Age, and the clearing
        // line it adds when a login that saved its session early replaced the request's session.
        dropSetCookie(reply, cookieName)
        reply.setCookie(cookieName, session.encryptedSessionId, { ...cookieAttributes, ...persistence(request) })
      }
      done(null, payload)
    })

    /** A remembered session's cookie lasts as long as the session; any other lasts until the browser closes. */
    function persistence({ session, sessionExpiresAt }: FastifyRequest) {
      if (!session.remember || sessionExpiresAt === null) return {}
      return { expires: new Date(sessionExpiresAt), maxAge: Math.max(0, Math.floor((sessionExpiresAt - Date.now()) / 1000)) }
    }

    // What these routes answer belongs to one user: no shared or browser cache may keep it.
    app.addHook('onRequest', (_request, reply, done) => {
      reply.header('cache-control', 'no-store')
      done()
    })

    app.decorateRequest('incrementSessionField', function incrementSessionField(this: FastifyRequest, field: NumericSessionField, by = 1) {
      return store.increment(this.session, field, by)
    })

    // A session that ended (here, elsewhere, or while this request ran) is over for this client: its cookie is
    // cleared, and a session this request loaded is not saved again (destroy drops it from the request).
    app.addHook('onError', async (request, reply, error) => {
      if (error.code !== SESSION_EXPIRED_CODE) return
      if (request.session?.user) await request.session.destroy().catch(() => {})
      app.sessionCookie.clear(reply)
    })

    app.decorate('sessionEndsAt', endsAt)

    let insecureTransportLogged = false

    app.decorate('sessionCookie', {
      signedId(request) {
        const value = request.cookies[cookieName]
        return value === undefined ? null : signer.unsign(value).value
      },
      clear(reply) {
        reply.clearCookie(cookieName, cookieAttributes)
      },
      sign: (sessionId) => signer.sign(sessionId),
      assertDeliverable(request) {
        if (!options.cookieSecure || request.protocol === 'https') return
        // Once per process: the cause is the deployment, not the client, and a busy service would repeat it endlessly.
        if (!insecureTransportLogged) {
          insecureTransportLogged = true
          request.log.warn(
            { protocol: request.protocol, forwardedProto: request.headers['x-forwarded-proto'] },
            'a session was refused because the request is not HTTPS and the cookie is Secure: serve HTTPS, or set TRUST_PROXY behind a TLS proxy (COOKIE_SECURE=false only for local http)',
          )
        }
        throw new InsecureTransport()
      },
    } satisfies SessionCookie)
  },
  { name: 'session', dependencies: ['session-index', 'account-snapshots'] },
)
