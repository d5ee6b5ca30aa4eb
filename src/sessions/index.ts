// The sessions concern as routes and later concerns see it: the service is `app.sessionLifecycle` (service.ts); these are the
// pure pieces they may use. Nothing outside sessions/ imports its stores.
export { handleOfSessionId, sessionHandle } from './fastify-store.js'
export { authenticatedAt, authMethod } from './proof.js'
export { toSessionView, type IndexedSession } from './user-sessions.js'
export { bearerTokenOf, type SessionUser } from './http.js'
export type { Proof } from './service.js'
