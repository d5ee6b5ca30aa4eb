import { createLocalJWKSet, errors, jwtVerify, SignJWT, type JWTPayload } from 'jose'
import { LRUCache } from 'lru-cache'
import { currentSigningKey, SIGNING_ALGORITHM, type KeySchedule, type PublicJwk, type SigningKey } from './signing-keys.js'
import type { AuthMethod } from '../schemas/mfa.js'

/** The media type of our access tokens' header (RFC 9068 §2.1): a token of another kind never passes for one. */
export const ACCESS_TOKEN_TYPE = 'at+jwt'

/** What an access token says, beyond the registered claims: who, which session, and how they proved it. */
export interface AccessTokenSubject {
  userId: string
  username: string
  roles: string[]
  /** The session's handle: the token is good only while that session lives. */
  sessionHandle: string
  /** When the login proved the credentials (epoch milliseconds). */
  authTime: number
  authMethod: AuthMethod
}

export interface AccessTokenClaims extends JWTPayload {
  sub: string
  sid: string
  jti: string
  iat: number
  exp: number
  auth_time: number
  amr: string[]
  preferred_username: string
  roles: string[]
}

/**
 * Tokens verified per process: a client sends one token for minutes, and an Ed25519 verification costs more than the
 * rest of a request. Only tokens that verified are kept, so no one can fill it with junk; each use still checks `exp`.
 */
const VERIFIED_MEMO_SIZE = 10_000

/** Authentication method references (RFC 8176) for how a session's user proved themselves. */
const AMR: Record<AuthMethod, string[]> = {
  'password': ['pwd'],
  'password+totp': ['pwd', 'otp', 'mfa'],
  'password+recovery_code': ['pwd', 'mfa'],
}

export interface AccessTokenOptions {
  issuer: string
  audience: string
  ttlSeconds: number
  schedule: KeySchedule
}

export interface AccessTokenIssuer {
  /** A signed access token for the subject, issued at `issuedAt` (epoch seconds) with the ID `jti`. */
  sign(subject: AccessTokenSubject, { issuedAt, jti }: { issuedAt: number; jti: string }): Promise<string>
  /** The token's claims when it is ours, current and meant for us; null for anything else, however it fails. */
  verify(token: string): Promise<AccessTokenClaims | null>
  /** The public keys, as GET /.well-known/jwks.json answers them. */
  publishedKeys(): { keys: PublicJwk[] }
  /** Takes the keys as they are now (tokens/plugin.ts reloads them). */
  useKeys(keys: SigningKey[]): void
}

/**
 * Access tokens: JWTs signed with Ed25519 under the shared signing keys, in the RFC 9068 profile (`typ: at+jwt`, `iss`,
 * `aud`, `sub`, `jti`, `iat`, `exp`, `auth_time`, `amr`), with the session handle as `sid`. Verification pins the
 * algorithm, the type, the issuer and the audience (RFC 8725 §3): `alg: none`, an HMAC over the public key, a token
 * for another audience or of another type are all refused the same way.
 */
export function accessTokenIssuer({ issuer, audience, ttlSeconds, schedule }: AccessTokenOptions): AccessTokenIssuer {
  let keys: SigningKey[] = []
  let jwks: { keys: PublicJwk[] } = { keys: [] }
  let verificationKeys = createLocalJWKSet(jwks)
  const verified = new LRUCache<string, AccessTokenClaims>({ max: VERIFIED_MEMO_SIZE })

  return {
    async sign(subject, { issuedAt, jti }) {
      const key = currentSigningKey(keys, schedule, Date.now())
      return new SignJWT({
        sid: subject.sessionHandle,
        auth_time: Math.floor(subject.authTime / 1000),
        amr: AMR[subject.authMethod],
        preferred_username: subject.username,
        roles: subject.roles,
      })
        .setProtectedHeader({ alg: SIGNING_ALGORITHM, typ: ACCESS_TOKEN_TYPE, kid: key.kid })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(subject.userId)
        .setJti(jti)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + ttlSeconds)
        .sign(key.privateKey)
    },

    async verify(token) {
      const known = verified.get(token)
      // jose's rule: a token is expired from its exp second on.
      if (known !== undefined) return Math.floor(Date.now() / 1000) < known.exp ? known : null
      try {
        const { payload } = await jwtVerify(token, verificationKeys, {
          algorithms: [SIGNING_ALGORITHM],
          typ: ACCESS_TOKEN_TYPE,
          issuer,
          audience,
          requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp'],
        })
        if (typeof payload.sid !== 'string') return null
        verified.set(token, payload as AccessTokenClaims)
        return payload as AccessTokenClaims
      } catch (error) {
        if (error instanceof errors.JOSEError) return null
        throw error
      }
    },

    publishedKeys: () => jwks,

    useKeys(next) {
      keys = next
      jwks = { keys: next.map(({ publicJwk }) => publicJwk) }
      verificationKeys = createLocalJWKSet(jwks)
    },
  }
}
