/**
 * The package's public API: what a host app imports (`import { sessionService } from 'redis-session-api'`). Everything not
 * exported here is internal and may change in any release; what is here changes only as CHANGELOG.md says, by semver.
 * The guards (`app.requireUser`, `app.requireRole(...)`, ...) and `request.user` are typed by the declarations these
 * types bring along.
 */
// The OpenAPI fields a route's schema may carry (operationId, summary, tags, security) come with @fastify/swagger's types.
/// <reference types="@fastify/swagger" preserve="true" />
export { default as sessionService, type RouteMounts, type SessionServiceOptions } from './plugin.js'
export type { MailTransport } from './accounts/mail.js'
export type { AccountControl, ChangedBy, SessionControl, SessionInfo } from './public-api.js'
export { buildApp, type BuildOptions } from './app.js'
export { ConfigError, loadConfig, type AppConfig, type EnvSource } from './config.js'
/** What `app.register(sessionService)` rejects with when a server is unreachable or the schema does not match. */
export { RedisUnreachableError } from './platform/redis/plugin.js'
export { DatabaseUnreachableError } from './platform/database/plugin.js'
export { SchemaMismatchError } from './platform/database/migrate.js'
export type { Guard } from './credentials/guard.js'
export type { SessionUser } from './sessions/http.js'
export type { AccountView } from './schemas/accounts.js'
export type { User } from './schemas/user.js'
/** `app.securityEvents.page(...)` on the host's instance: the history GET /auth/events and GET /admin/events read. */
export type { SecurityEvent, SecurityEventFilter, SecurityEvents, SecurityEventType } from './security-events/index.js'
export type { SecurityEventView } from './schemas/security-events.js'
/** Errors in the service's shape (`{statusCode, error, message, code}`), and their place in the OpenAPI document. */
export { define as defineError } from './errors.js'
export { errorResponses, NoContent } from './schemas/error.js'
export { answer } from './schemas/components.js'
export { PUBLIC, SESSION_SECURITY } from './schemas/security.js'
