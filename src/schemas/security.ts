/**
 * The OpenAPI security requirements routes declare; the docs plugin defines the schemes they name. Plain data, so
 * routes do not load the docs plugin (which may be turned off).
 */
type SecurityRequirement = Record<string, string[]>
/** A session as a cookie or as a bearer token: either one. */
export const SESSION_SECURITY: SecurityRequirement[] = [{ sessionCookie: [] }, { bearerAuth: [] }]
export const METRICS_SECURITY = [{ metricsToken: [] }]
export const INTROSPECTION_SECURITY = [{ introspectionSecret: [] }]
/** No credential at all: said explicitly, so that a route without a security requirement is a mistake, not a default. */
export const PUBLIC: SecurityRequirement[] = []
