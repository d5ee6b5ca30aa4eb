// The tokens concern as routes see it: `app.jwtSessions` (service.ts) and `app.accessTokenIssuer` (access-tokens.ts).
export type { Introspection, TokenPair } from './service.js'
export { REFRESH_TOKEN_PREFIX } from '../sessions/refresh-families.js'
