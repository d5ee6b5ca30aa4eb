/**
 * The OpenAPI security requirements routes declare; the docs plugin defines the schemes they name. Plain data, so
 * routes do not load the docs plugin (which may be turned off).
 */
export const SESSION_SECURITY = [{ sessionCookie: [] }]
export const METRICS_SECURITY = [{ metricsToken: [] }]
