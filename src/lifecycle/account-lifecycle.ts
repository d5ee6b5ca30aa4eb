import type { Static } from '@sinclair/typebox'
import fp from 'fastify-plugin'
import { LastAdmin, UserNotFound } from '../errors.js'
import { userRecords, type GuardedOutcome } from '../accounts/records.js'
import type { Ended as EndedSchema } from '../schemas/accounts.js'
import type { UserRef } from '../accounts/users.js'

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
  /** Throws UserNotFound, or LastAdmin for the last active admin. */
  disable(user: UserRef, disable: { until: Date | null; reason: string | null; by: string }): Promise<Ended>
  /** False when the account is gone. */
  enable(user: UserRef): Promise<boolean>
  setRoles(user: UserRef, roles: string[]): Promise<Ended>
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

    async function endEverything(user: UserRef): Promise<Ended> {
      const sessions = await app.sessions.endAll(user)
      const tokens = await app.accessTokens.revokeAll(user.id)
      return { sessions, tokens }
    }

    /** What Redis still holds of a deleted account once its sessions and tokens ended, each asked of its owner. */
    async function forget({ id, username }: UserRef): Promise<void> {
      await Promise.all([app.accountLock.forget(username), app.pendingLogins.forgetUser(id), app.sessionIndex.forget(id), app.accessTokens.forget(id)])
    }

    app.decorate('accountLifecycle', {
      endEverything,
      async disable(user, disable) {
        settled(await records.disable(user.id, disable))
        return endEverything(user)
      },
      enable: (user) => records.enable(user.id),
      async setRoles(user, roles) {
        settled(await records.setRoles(user.id, roles))
        return endEverything(user)
      },
      async remove(user) {
        settled(await records.remove(user.id))
        const ended = await endEverything(user)
        await forget(user)
        return ended
      },
    } satisfies AccountLifecycle)
  },
  { name: 'account-lifecycle', dependencies: ['database', 'sessions', 'access-tokens', 'account-lock', 'pending-logins'] },
)
