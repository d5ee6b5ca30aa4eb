import createClient from 'openapi-fetch'
import type { components, paths } from './openapi'

/**
 * The service's API, typed by its own OpenAPI document (openapi.d.ts, generated): a route or a field the app uses
 * that the service no longer has fails `npm run typecheck`. Same origin: the browser sends the HttpOnly session
 * cookie itself, and no credential ever passes through this code.
 */
export const api = createClient<paths>({ baseUrl: '' })

export type { components }
export type Me = paths['/auth/me']['get']['responses'][200]['content']['application/json']
export type ApiError = components['schemas']['Error']

/** A refusal as the person reads it: the service's code turned into a sentence, with the wait where there is one. */
export function describeError(error: ApiError | undefined, response: Response, overrides: Partial<Record<string, string>> = {}): string {
  const override = error && overrides[error.code]
  if (override) return override
  const wait = Number(response.headers.get('retry-after'))
  const retry = wait > 0 ? ` Try again in ${formatWait(wait)}.` : ' Try again later.'
  switch (error?.code) {
    case 'INVALID_CREDENTIALS':
      return 'Wrong username or password.'
    case 'ACCOUNT_LOCKED':
      return `Too many failed sign-ins for this account.${retry}`
    case 'RATE_LIMITED':
      return `Too many attempts.${retry}`
    case 'ACCOUNT_DISABLED':
      return 'This account is disabled. Ask an administrator to enable it.'
    case 'EMAIL_NOT_VERIFIED':
      return 'Confirm your email address first: follow the link we mailed you.'
    case 'INVALID_MFA_CODE':
      return 'That code is not right. Enter the current code from your app, or a recovery code.'
    case 'MFA_LOGIN_EXPIRED':
    case 'LOGIN_INTERRUPTED':
      return 'The sign-in took too long. Start again with your password.'
    case 'USERNAME_TAKEN':
      return 'That username is taken. Choose another.'
    case 'STORE_UNAVAILABLE':
    case 'OVERLOADED':
      return `The service is busy.${retry}`
    default:
      return error?.message ?? (response.ok ? '' : 'Something went wrong. Try again.')
  }
}

function formatWait(seconds: number): string {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`
  const minutes = Math.ceil(seconds / 60)
  return `${minutes} minutes`
}
