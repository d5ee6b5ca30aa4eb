import { STATUS_CODES } from 'node:http'
import createError from '@fastify/error'

/** Seconds a client is told to wait (Retry-After) when Redis cannot be reached. */
export const STORE_RETRY_AFTER_SECONDS = 2

// Every error the API answers with carries one of these stable codes; clients branch on them.
export const UsernameTaken = createError('USERNAME_TAKEN', 'That username is already taken', 409)
export const RegistrationClosed = createError('REGISTRATION_CLOSED', 'Registration is closed', 403)
export const InvalidCredentials = createError('INVALID_CREDENTIALS', 'Invalid username or password', 401)
export const Unauthenticated = createError('UNAUTHENTICATED', 'Log in to use this route', 401)
export const SessionExpired = createError('SESSION_EXPIRED', 'The session has expired or was ended; log in again', 401)
export const RateLimited = createError<[string]>('RATE_LIMITED', 'Too many requests; retry in %s', 429)
export const AccountLocked = createError('ACCOUNT_LOCKED', 'Too many failed logins for this account; retry later', 429)
export const Forbidden = createError('FORBIDDEN', 'This route needs a role you do not have', 403)
export const UserNotFound = createError('USER_NOT_FOUND', 'No such user', 404)
export const SessionNotFound = createError('SESSION_NOT_FOUND', 'No such session', 404)
export const CsrfRejected = createError('CSRF_REJECTED', 'Cross-site request refused', 403)
export const StoreUnavailable = createError('STORE_UNAVAILABLE', 'The session store is unavailable; retry shortly', 503)
export const Overloaded = createError('OVERLOADED', 'The server is overloaded; retry shortly', 503)
export const InsecureTransport = createError(
  'INSECURE_TRANSPORT',
  'The session cookie is Secure and this request did not come over HTTPS, so no session was created: call the API over HTTPS; behind a TLS-terminating proxy, set TRUST_PROXY so its X-Forwarded-Proto is believed; COOKIE_SECURE=false only for local development over http://',
  400,
)
export const AmbiguousCredentials = createError(
  'AMBIGUOUS_CREDENTIALS',
  'Send the session cookie or an Authorization: Bearer token, not both',
  400,
)
export const InsufficientScope = createError<[string]>('INSUFFICIENT_SCOPE', 'This access token lacks the "%s" scope this route needs', 403)
export const TokenNotAllowed = createError(
  'TOKEN_NOT_ALLOWED',
  'This route needs a login session (cookie or bearer session), not a personal access token',
  403,
)
export const TokenLimitReached = createError('TOKEN_LIMIT_REACHED', 'Too many access tokens; revoke one first', 409)
export const TokenNotFound = createError('TOKEN_NOT_FOUND', 'No such access token', 404)
export const InvalidMfaCode = createError('INVALID_MFA_CODE', 'That code is wrong, expired or already used', 401)
export const MfaCodeRequired = createError('MFA_CODE_REQUIRED', 'This account has two-factor login: send the code from the authenticator app (or a recovery code) as "code"', 401)
export const PendingLoginNotFound = createError(
  'MFA_LOGIN_EXPIRED',
  'No login is waiting for a second factor (it expired, was completed, or took too many wrong codes): log in with the password again',
  401,
)
export const LoginInterrupted = createError(
  'LOGIN_INTERRUPTED',
  "The account's password or second factor changed, or all its sessions were ended, during this login: log in again",
  401,
)
export const MfaAlreadyEnabled = createError('MFA_ALREADY_ENABLED', 'Two-factor login is on already: turn it off first to enrol another authenticator', 409)
export const MfaNotEnabled = createError('MFA_NOT_ENABLED', 'Two-factor login is not on for this account', 409)
export const NoMfaEnrolment = createError('MFA_ENROLMENT_NOT_STARTED', 'No enrolment in progress for this session (or it expired): POST /auth/mfa/totp first', 409)
export const ReauthRequired = createError<[string]>(
  'REAUTH_REQUIRED',
  'This action needs a credential proved in the last %s seconds: POST /auth/reauth with the password (and code), then retry',
  403,
)
export const MetricsUnauthorized = createError('UNAUTHENTICATED', 'GET /metrics needs the bearer token METRICS_TOKEN', 401)

/** Codes for errors raised by Fastify itself (parsing, routing), keyed by HTTP status. */
const CODE_BY_STATUS: Record<number, string> = {
  400: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  408: 'REQUEST_TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  431: 'HEADERS_TOO_LARGE',
  503: 'SERVICE_UNAVAILABLE',
}

/** Fastify's own codes that deserve a more precise code than their status gives. */
const CODE_BY_FASTIFY_CODE: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
}

export interface ErrorBody {
  statusCode: number
  error: string
  message: string
  code: string
}

export interface ErrorLike {
  statusCode?: number
  code?: string
  message: string
  validation?: unknown
}

const OUR_CODES = new Set([
  UsernameTaken,
  RegistrationClosed,
  InvalidCredentials,
  Unauthenticated,
  SessionExpired,
  RateLimited,
  CsrfRejected,
  SessionNotFound,
  Forbidden,
  UserNotFound,
  AccountLocked,
  StoreUnavailable,
  Overloaded,
  InsecureTransport,
  AmbiguousCredentials,
  InsufficientScope,
  TokenNotAllowed,
  TokenLimitReached,
  TokenNotFound,
  InvalidMfaCode,
  MfaCodeRequired,
  PendingLoginNotFound,
  LoginInterrupted,
  MfaAlreadyEnabled,
  MfaNotEnabled,
  NoMfaEnrolment,
  ReauthRequired,
].map((ErrorClass) => new ErrorClass('').code))

export function errorBody(statusCode: number, code: string, message: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, code }
}

/**
 * Maps any error to the response shape. Client errors keep their message; anything else becomes a generic 500
 * so that internals never leak. `storeDown` turns an unexplained failure into 503 when Redis is the cause.
 */
export function toErrorBody(error: ErrorLike, storeDown: boolean): ErrorBody {
  if (error.validation) return errorBody(400, 'VALIDATION', error.message)
  if (error.code && OUR_CODES.has(error.code) && error.statusCode) {
    return errorBody(error.statusCode, error.code, error.message)
  }
  const status = error.statusCode ?? 500
  if (status >= 400 && status < 500) {
    const code = (error.code && CODE_BY_FASTIFY_CODE[error.code]) ?? CODE_BY_STATUS[status] ?? 'BAD_REQUEST'
    return errorBody(status, code, error.message)
  }
  if (storeDown || isRedisConnectionError(error)) {
    return errorBody(503, 'STORE_UNAVAILABLE', new StoreUnavailable().message)
  }
  return errorBody(500, 'INTERNAL_ERROR', 'Something went wrong on our side')
}

const REDIS_UNAVAILABLE_MESSAGES = [
  "Stream isn't writeable",
  'Connection is closed',
  'Command timed out',
  'Reached the max retries per request limit',
  // A failover in progress: a demoted master refuses writes, a Cluster has slots without a master for a moment.
  'READONLY',
  'CLUSTERDOWN',
  'TRYAGAIN',
  'MASTERDOWN',
  'LOADING',
  "Cluster isn't ready",
  'Too many Cluster redirections',
  'All sentinels are unreachable',
  'None of startup nodes is available',
  'Failed to refresh slots cache',
  // A slot that moved mid-failover, answered before the client refreshed its slot map (it does so at once).
  'MOVED ',
  'ASK ',
]
const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND'])

/** True for the errors ioredis raises when it cannot reach Redis (as opposed to a bad command). */
export function isRedisConnectionError(error: ErrorLike): boolean {
  if (error.code && NETWORK_ERROR_CODES.has(error.code)) return true
  return REDIS_UNAVAILABLE_MESSAGES.some((fragment) => error.message.includes(fragment))
}
