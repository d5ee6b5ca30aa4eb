import type { FastifyInstance } from 'fastify'
import { UserNotFound } from './errors.js'
import { toAccountView, type Account } from './accounts/index.js'
import { toSessionView } from './sessions/index.js'
import type { Ended } from './lifecycle/index.js'
import type { AccountView } from './schemas/accounts.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

declare module 'fastify' {
  interface FastifyInstance {
    /** A user's sessions, for the host's own code (see docs/building-on-it.md). */
    sessions: SessionControl
    /** Accounts, for the host's own code (see docs/building-on-it.md). */
    accounts: AccountControl
  }
}

/** A session as a host sees it: `id` is its handle (what GET /auth/sessions shows), never the secret session ID. */
export type SessionInfo = Omit<ReturnType<typeof toSessionView>, 'current'>

/** What a host may do with sessions: the same operations, with the same guarantees, as the service's own routes. */
export interface SessionControl {
  /** The user's live sessions (bearer ones included), newest first; none for an unknown user. */
  list(userId: string): Promise<SessionInfo[]>
  /** Ends one session of the user; false when the user has no such session. */
  end(userId: string, sessionId: string): Promise<boolean>
  /**
   * Ends every session of the user, and the logins in flight; with `tokens: true`, the personal access tokens too
   * (`tokens` is then how many, null otherwise). Throws UserNotFound (404) for an unknown user.
   */
  endAll(userId: string, options?: { tokens?: boolean }): Promise<{ sessions: number; tokens: number | null }>
}

/** Who made a change, when an admin did: their user id, recorded on the account and in the log. */
export interface ChangedBy {
  by?: string
}

/** What a host may do with accounts. Each change is the one the admin API makes, and ends what that one ends. */
export interface AccountControl {
  /** The account as admins see it (never a credential), by id or by name in any letter case; null when there is none. */
  find(key: { id: string } | { username: string }): Promise<AccountView | null>
  /** New roles: every session and access token of the user ends (a session carries its roles). Throws LastAdmin (409). */
  setRoles(userId: string, roles: string[], options?: ChangedBy): Promise<Ended>
  /** Disables the account (for good, or until a time) and ends every session and access token of it. */
  disable(userId: string, options?: ChangedBy & { reason?: string; until?: Date }): Promise<Ended>
  /** Lets the account log in again. */
  enable(userId: string, options?: ChangedBy): Promise<void>
  /** Deletes the account and everything the service holds of it (rows that refer to it with ON DELETE CASCADE go too). */
  remove(userId: string, options?: ChangedBy): Promise<Ended>
}

/**
 * The host's API over the service's own internals: `scope` is where they are registered (see plugin.ts). Changes are
 * logged and counted as the admin API's are, with `by` when the host names who made them.
 */
export function hostApi(scope: FastifyInstance): { sessions: SessionControl; accounts: AccountControl } {
  const { users, sessionLifecycle, accountLifecycle } = scope

  // An id that is no UUID names no account (and PostgreSQL would refuse it as a uuid).
  const find = (userId: string) => (UUID.test(userId) ? users.accountOf({ id: userId }) : Promise.resolve(null))
  async function accountOf(userId: string): Promise<Account> {
    const account = await find(userId)
    if (account === null) throw new UserNotFound()
    return account
  }
  /** Only an admin's id is recorded as who disabled an account; anything else is logged as the host. */
  const actor = (by: string | undefined) => (by !== undefined && UUID.test(by) ? by : null)

  const sessions: SessionControl = {
    async list(userId) {
      if (!UUID.test(userId)) return []
      return (await sessionLifecycle.list(userId)).map((session) => {
        const { current: _current, ...info } = toSessionView(session, null)
        return info
      })
    },
    async end(userId, sessionId) {
      if (!UUID.test(userId)) return false
      const ended = await sessionLifecycle.endOne(userId, sessionId)
      if (ended) scope.recordEvent({ log: scope.log }, 'revoke', { userId, session: sessionId, by: 'host' })
      return ended
    },
    async endAll(userId, { tokens = false } = {}) {
      const { user } = await accountOf(userId)
      const ended = tokens ? await accountLifecycle.endEverything(user) : { sessions: await sessionLifecycle.endAll(user), tokens: null }
      scope.recordEvent({ log: scope.log }, 'revoke', { userId, ...ended, by: 'host' }, ended.sessions)
      return ended
    },
  }

  const accounts: AccountControl = {
    async find(key) {
      const account = 'id' in key ? await find(key.id) : await users.findAccount(key.username)
      return account && toAccountView(account)
    },
    async setRoles(userId, roles, { by } = {}) {
      const { user } = await accountOf(userId)
      const ended = await accountLifecycle.change(user, { roles })
      scope.recordEvent({ log: scope.log }, 'roles_changed', { userId, roles, by: by ?? 'host', ...ended }, ended.sessions)
      return ended
    },
    async disable(userId, { by, reason, until } = {}) {
      const { user } = await accountOf(userId)
      const ended = await accountLifecycle.change(user, { disable: { until: until ?? null, reason: reason ?? null, by: actor(by) } })
      scope.recordEvent({ log: scope.log }, 'account_disabled', { userId, reason, until, by: by ?? 'host', ...ended }, ended.sessions)
      return ended
    },
    async enable(userId, { by } = {}) {
      const { user } = await accountOf(userId)
      await accountLifecycle.change(user, { enable: true })
      scope.recordEvent({ log: scope.log }, 'account_enabled', { userId, by: by ?? 'host' })
    },
    async remove(userId, { by } = {}) {
      const { user } = await accountOf(userId)
      const ended = await accountLifecycle.remove(user)
      scope.recordEvent({ log: scope.log }, 'account_deleted', { userId, by: by ?? 'host', ...ended }, ended.sessions)
      return ended
    },
  }
  return { sessions, accounts }
}
