import type { Static } from '@sinclair/typebox'
import fp from 'fastify-plugin'
import { LastAdmin, UserNotFound } from '../errors.js'
import { shutsOutLogins, type AccountChange, type GuardedOutcome } from '../accounts/account.js'
import { userRecords } from '../accounts/records.js'
import type { Ended as EndedSchema } from '../schemas/accounts.js'
import type { UserRef } from '../accounts/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    accountLifecycle: AccountLifecycle
  }
}

/** What a change ended (schemas/accounts.ts): sessions, bearer ones included, and personal access tokens. */
export type Ended = Static<typeof EndedSchema>

/**
 * Disabling, re-enabling, changing roles and deleting accounts. Each change is final when it returns, on every
 * instance, whatever is in flight:
 * 1. the account changes in PostgreSQL first, with a new login epoch (a disable, new roles) or gone (a delete): a
 *    login or a pending login in flight then ends its own session when it checks the epoch (sessions/service.ts);
 * 2. then every session ends, then every access token: a token being made by a session that step 2 ends either is
 *    seen here or sees its session gone and revokes itself (sessions.isLive).
 * Roles live in each session (the guard reads them without a query), so new roles end the user's sessions and tokens:
 * the next login carries them. A temporary disable lifts itself at `until` (the state is read at each login).
 */
export interface AccountLifecycle {
  /**
   * Changes roles and state as one change (one transaction, one epoch raise: accounts/records.ts); new roles or a
   * disable then end everything. Throws UserNotFound, or LastAdmin (nothing changed) for the last active admin.
   */
  change(user: UserRef, change: AccountChange): Promise<Ended>
  /** Deletes the account and everything stored for it, in PostgreSQL and in Redis. */
  remove(user: UserRef): Promise<Ended>
  /** Ends every session and access token of the user (and logins in flight). */
  endEverything(user: UserRef): Promise<Ended>
}

function settled(outcome: GuardedOutcome): void {
  if (outcome === 'gone') throw new UserNotFound()
  if (outcome === 'lastAdmin') throw new LastAdmin()
}

export default fp(
  async function accountLifecyclePlugin(app) {
    const records = userRecords(app.db)

    /** `epochRaised`: the change that calls it raised the login epoch itself, which shut out the logins in flight. */
    async function endEverything(user: UserRef, { epochRaised = false } = {}): Promise<Ended> {
      const sessions = await app.sessionLifecycle.endAll(user, { keepLoginsInFlight: epochRaised })
      const tokens = await app.accessTokens.revokeAll(user.id)
      return { sessions, tokens }
    }

    /** What Redis still holds of a deleted account once its sessions and tokens ended, each asked of its owner. */
    async function forget({ id, username }: UserRef): Promise<void> {
      await Promise.all([app.accountLock.forget(username), app.pendingLogins.forgetUser(id), app.sessionIndex.forget(id), app.accessTokens.forget(id)])
    }

    app.decorate('accountLifecycle', {
      endEverything: (user) => endEverything(user),
      async change(user, change) {
        settled(await records.change(user.id, change))
        await app.accountSnapshots.refresh(user.id)
        return shutsOutLogins(change) ? endEverything(user, { epochRaised: true }) : { sessions: 0, tokens: 0 }
      },
      async remove(user) {
        settled(await records.remove(user.id))
        // A tombstone: no read that raced the deletion can fill the snapshot back.
        await app.accountSnapshots.refresh(user.id)
        const ended = await endEverything(user)
        await forget(user)
        return ended
      },
    } satisfies AccountLifecycle)
  },
  { name: 'account-lifecycle', dependencies: ['database', 'sessions', 'access-tokens', 'account-lock', 'pending-logins', 'account-snapshots'] },
)
