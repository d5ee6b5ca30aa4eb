// The credentials concern as routes see it: the services are `app.credentials`, `app.pendingLogins`, `app.accountLock`
// and the guards (`app.requireUser`, ...); these are its types.
export type { SecondFactorStep } from './ceremonies.js'
