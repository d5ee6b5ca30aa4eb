import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest } from 'fastify'

declare module 'fastify' {
  interface FastifyInstance {
    deviceCookies: DeviceCookies
  }
}

/**
 * Device cookies (OWASP, "Slow Brute Force Attack Protection"): a client that completed a login to an account gets a
 * signed cookie naming the account and a random device id. Its later attempts at that account are judged by the
 * device's own failure count (credentials/lock.ts), so strangers who lock the account out do not lock out its owner's
 * browsers. The cookie proves nothing by itself: a password (and a code) is still checked, and a stolen one only
 * gives its thief the device's own allowance of guesses. Kept across logout; one account per client (the latest).
 */
export interface DeviceCookies {
  /** The device id the request's cookie vouches for at `username` (any letter case), or null. */
  deviceOf(request: FastifyRequest, username: string): string | null
  /** Sets (or renews) the cookie for `username` after a completed login, keeping the device id it had for that account. */
  remember(request: FastifyRequest, reply: FastifyReply, username: string): void
}

export interface DeviceCookiesOptions {
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

export default fp<DeviceCookiesOptions>(
  async function deviceCookiesPlugin(app, { sessionCookieName, cookieSecure }) {
    const cookieName = `${sessionCookieName}-device`
    const attributes = { path: '/', httpOnly: true, sameSite: 'strict', secure: cookieSecure, signed: true, maxAge: DEVICE_COOKIE_MAX_AGE_SECONDS } as const

    function deviceOf(request: FastifyRequest, username: string): string | null {
      const cookie = request.cookies[cookieName]
      if (cookie === undefined) return null
      const { valid, value } = request.unsignCookie(cookie)
      if (!valid || value === null) return null
      const named = decodeDeviceCookie(value)
      return named !== null && named.username === username.toLowerCase() ? named.device : null
    }

    app.decorate('deviceCookies', {
      deviceOf,
      remember(request, reply, username) {
        if (request.bearer) return
        const device = deviceOf(request, username) ?? randomBytes(16).toString('base64url')
        reply.setCookie(cookieName, encode(username, device), attributes)
      },
    } satisfies DeviceCookies)
  },
  { name: 'device-cookies', dependencies: ['session'] },
)
