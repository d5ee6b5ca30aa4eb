import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { sessionHandle } from '../sessions/index.js'
import type { UserRef } from '../accounts/index.js'
import { deviceAt, type Claimant } from './ceremonies.js'
import { PENDING_LOGIN_TTL_MS } from './pending-logins.js'
import type { LoginTransport } from '../schemas/auth.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The claimant a request stands for, as the credential ceremonies take it (plain data). */
    claimantOf(request: FastifyRequest): Claimant
    /** The cookie that carries a pending login's ID to a browser (a token client gets it as mfaToken instead). */
    pendingLoginCookie: PendingLoginCookie
    /**
     * Whether a browser signing in to `username` lacks that account's device cookie (a new device, for the security
     * events and the new-sign-in mail); undefined for a token client, which keeps no cookie.
     */
    isNewDevice(request: FastifyRequest, username: string, transport: LoginTransport): boolean | undefined
    /** A login or re-authentication completed: the ceremonies' bookkeeping, then the device cookie. */
    loginCompleted(request: FastifyRequest, reply: FastifyReply, user: UserRef): Promise<void>
  }
}

/*
 * The HTTP side of credentials: what the ceremonies (ceremonies.ts, plain data in and out) need of a request, and the
 * cookies they leave behind: the device cookie and the pending login's.
 *
 * Device cookies (OWASP, "Slow Brute Force Attack Protection"): a client that completed a login to an account gets a
 * signed cookie naming the account and a random device id. Its later attempts at that account are judged by the
 * device's own failure count (credentials/lock.ts), so strangers who lock the account out do not lock out its owner's
 * browsers. The cookie proves nothing by itself: a password (and a code) is still checked, and a stolen one only
 * gives its thief the device's own allowance of guesses. Kept across logout; one account per client (the latest).
 */

export interface PendingLoginCookie {
  /** The ID of the pending login this request's cookie names, or null. */
  idOf(request: FastifyRequest): string | null
  set(reply: FastifyReply, id: string, expiresAt: number): void
  /** Clears the cookie, if the request came with one. */
  clear(request: FastifyRequest, reply: FastifyReply): void
}

export interface CredentialsHttpOptions {
  /** The session cookie's name: the device cookie is named after it (`__Host-sid` → `__Host-sid-device`). */
  sessionCookieName: string
  cookieSecure: boolean
}

/** How long a device stays known without a login. */
export const DEVICE_COOKIE_MAX_AGE_SECONDS = 365 * 86_400

/**
 * The cookie's value, before signing: the lower-cased account name and the device id, joined by a colon, which
 * neither can hold (names: schemas/user.ts; ids: base64url). A value must split into exactly these two, so that no
 * name can pass for another: a dot, which names may hold (`victim.x`), joined them before 0.3.1, and those cookies
 * no longer name any account.
 */
const SEPARATOR = ':'
const encode = (username: string, device: string) => `${username.toLowerCase()}${SEPARATOR}${device}`

/** The account name and device id a cookie's value names, or null when it is not exactly a name and an id. */
export function decodeDeviceCookie(value: string): { username: string; device: string } | null {
  const parts = value.split(SEPARATOR)
  if (parts.length !== 2 || !parts[0] || !parts[1]) return null
  return { username: parts[0], device: parts[1] }
}

export default fp<CredentialsHttpOptions>(
  async function credentialsHttpPlugin(app, { sessionCookieName, cookieSecure }) {
    const cookieName = `${sessionCookieName}-device`
    const attributes = { path: '/', httpOnly: true, sameSite: 'strict', secure: cookieSecure, signed: true, maxAge: DEVICE_COOKIE_MAX_AGE_SECONDS } as const

    function knownDevice(request: FastifyRequest): { username: string; device: string } | null {
      const cookie = request.cookies[cookieName]
      if (cookie === undefined) return null
      const { valid, value } = request.unsignCookie(cookie)
      return valid && value !== null ? decodeDeviceCookie(value) : null
    }

    /** Sets (or renews) the cookie for `username` after a completed login, keeping the device id it had for that account. */
    function rememberDevice(request: FastifyRequest, reply: FastifyReply, username: string): void {
      if (request.bearer) return
      const device = deviceAt(knownDevice(request), username) ?? randomBytes(16).toString('base64url')
      reply.setCookie(cookieName, encode(username, device), attributes)
    }

    app.decorate('isNewDevice', (request: FastifyRequest, username: string, transport: LoginTransport) =>
      transport === 'cookie' ? deviceAt(knownDevice(request), username) === null : undefined)

    app.decorate('claimantOf', (request: FastifyRequest): Claimant => {
      const { user } = request.session
      return {
        knownDevice: knownDevice(request),
        session: user ? { userId: user.id, handle: sessionHandle(request.session) } : null,
        log: request.log,
        trail: request.trail,
      }
    })

    // The same prefix rules as the session cookie (`__Host-sid` → `__Host-sid-mfa`).
    const pendingName = `${sessionCookieName}-mfa`
    // Sent only to our own login route's requests from our own pages; never readable by scripts.
    const pendingAttributes = { path: '/', httpOnly: true, sameSite: 'strict', secure: cookieSecure } as const
    app.decorate('pendingLoginCookie', {
      idOf: (request) => request.cookies[pendingName] ?? null,
      set(reply, id, expiresAt) {
        reply.setCookie(pendingName, id, { ...pendingAttributes, expires: new Date(expiresAt), maxAge: PENDING_LOGIN_TTL_MS / 1000 })
      },
      clear(request, reply) {
        if (request.cookies[pendingName] !== undefined) reply.clearCookie(pendingName, pendingAttributes)
      },
    } satisfies PendingLoginCookie)

    app.decorate('loginCompleted', async (request: FastifyRequest, reply: FastifyReply, user: UserRef) => {
      await app.credentials.loginCompleted(app.claimantOf(request), user)
      rememberDevice(request, reply, user.username)
    })
  },
  { name: 'credentials-http', dependencies: ['session', 'credentials'] },
)
