/**
 * Query parameters that may carry a secret: a mailed link's token (`/reset-password?token=...`), and anything named
 * like a credential. A request log line shows the URL; these values never reach it.
 */
const SECRET_PARAMETER = /([?&;][^=&#;]*(?:token|secret|password|code|key)[^=&#;]*=)[^&#;]*/gi

/** The URL with the value of every parameter that may carry a secret replaced by `[redacted]`. */
export function withoutSecrets(url: string): string {
  return url.includes('=') ? url.replace(SECRET_PARAMETER, '$1[redacted]') : url
}
