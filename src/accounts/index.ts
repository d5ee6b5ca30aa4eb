// The accounts concern as routes and later concerns see it: the services are `app.users`, `app.mfa` and `app.mail`;
// these are its types and constants. Nothing outside accounts/ imports its stores.
export { toAccountView, type Account, type AccountChange } from './account.js'
export { DEFAULT_ROLES, type UserRef } from './users.js'
export type { AccountSnapshot } from './snapshots.js'
export type { QueuedMail } from './mail-templates.js'
