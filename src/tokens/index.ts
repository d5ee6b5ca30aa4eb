// The tokens concern as routes see it: `app.jwtSessions` (service.ts) and `app.accessTokenIssuer` (access-tokens.ts),
// decorated by plugin.ts; these are the shapes they answer.
export type { Introspection, TokenPair } from './service.js'
