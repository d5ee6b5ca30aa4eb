import type { Migration } from 'kysely'
import * as accounts from './0001-accounts.js'
import * as accountState from './0002-account-state.js'
import * as email from './0003-email.js'
import * as pendingEmail from './0004-pending-email.js'
import * as accountVersion from './0005-account-version.js'
import * as signingKeys from './0006-signing-keys.js'
import * as securityEvents from './0007-security-events.js'

/**
 * Every migration, in order, under the name the database records it by. Listed here rather than read from a folder,
 * so that the same list runs from the TypeScript sources and from dist/. Append; never rename or edit one that
 * has shipped.
 */
export const MIGRATIONS: Record<string, Migration> = {
  '0001-accounts': accounts,
  '0002-account-state': accountState,
  '0003-email': email,
  '0004-pending-email': pendingEmail,
  '0005-account-version': accountVersion,
  '0006-signing-keys': signingKeys,
  '0007-security-events': securityEvents,
}
