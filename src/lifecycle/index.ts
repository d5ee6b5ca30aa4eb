// The lifecycle concern as routes see it: the services are `app.accountLifecycle` and `app.accountRecovery`.
export { sameAddress } from './recovery.js'
export type { Ended } from './account-lifecycle.js'
