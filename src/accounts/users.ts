import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import { UsernameTaken } from '../errors.js'
import type { Database } from '../platform/database/connection.js'
import { DEFAULT_SCRYPT_COST, hashPassword, needsRehash, verifyPassword, type ScryptCost } from '../lib/password.js'
import type { Account, AccountPage, AccountQuery } from './account.js'
import { userRecords } from './records.js'
import type { User } from '../schemas/user.js'

declare module 'fastify' {
  interface FastifyInstance {
    users: Users
  }
}

export type { Account } from './account.js'

export const DEFAULT_ROLES = ['user']
export const ADMIN_ROLES = ['admin', 'user']

export interface NewUser {
  username: string
  password: string
  roles: string[]
  /** Unverified until its owner follows the link mailed to it. */
  email?: string | null
}

/** Who a session or a pending login says the user is: the name may since belong to another account. */
export type UserRef = Pick<User, 'id' | 'username'>

export interface Users {
  /**
   * Throws UsernameTaken when the name exists in any letter case. `alongside` runs in the transaction that inserts the
   * user (a verification mail is queued with the account, or neither is).
   */
  create(newUser: NewUser, alongside?: (within: Database, user: User) => Promise<void>): Promise<User>
  /** The user with their credentials (second factor included), or null. */
  findAccount(username: string): Promise<Account | null>
  /** The account of `user` as it is now; null when it is gone. */
  accountOf(user: Pick<UserRef, 'id'>): Promise<Account | null>
  /**
   * A new password for a request that proved `account` (its old password, at its login epoch): the new login epoch,
   * or null when the account changed since (see accounts/records.ts setPassword). Ends logins in flight.
   */
  changePassword(account: Account, password: string): Promise<number | null>
  /**
   * The account when the password matches; costs one key derivation whether or not the user exists. A match under an
   * older hashing cost is stored again under the current one (password.ts). `startBy`: see verifyPassword.
   */
  authenticate(username: string, password: string, startBy?: number): Promise<Account | null>
  /** The user's login epoch moved since `epoch` was read: a login started before then is void (see accounts/records.ts). */
  loginEpochMovedSince(user: UserRef, epoch: number): Promise<boolean>
  /** Voids the user's logins in flight (see accounts/records.ts); the sessions service calls it before ending them all. */
  voidLoginsInFlight(user: UserRef): Promise<void>
  /** A new password's hash, at the configured cost (for a change made elsewhere: a reset). */
  hashPassword(password: string): Promise<string>
  /**
   * Notes a completed login (shown to admins) that proved the account at login epoch `epoch`, and checks in the same
   * statement that the epoch still holds: false, noting nothing, when it moved since (the login is void, as for
   * loginEpochMovedSince). One query where the check and the note took two.
   */
  recordLogin(user: UserRef, epoch: number): Promise<boolean>
  /** A page of accounts, by lower-cased name. */
  list(query: AccountQuery): Promise<AccountPage>
}

export function createUsers(db: Database, hashCost: ScryptCost = DEFAULT_SCRYPT_COST): Users {
  const hash = (password: string) => hashPassword(password, hashCost)
  // Hashed once: verifying an unknown username against it costs what a wrong password costs.
  const decoyHash = hash(randomUUID())
  const records = userRecords(db)
  const findAccount = (username: string) => records.findByName(username)

  return {
    findAccount,

    accountOf({ id }) {
      return records.findById(id)
    },

    async create({ username, password, roles, email = null }, alongside) {
      const user: User = { id: randomUUID(), username, roles, createdAt: new Date().toISOString() }
      const passwordHash = await hash(password)
      const created = await db.transaction().execute(async (trx) => {
        if (!(await userRecords(trx).create(user, passwordHash, email))) return false
        await alongside?.(trx, user)
        return true
      })
      if (!created) throw new UsernameTaken()
      return user
    },

    async changePassword({ user, loginEpoch }, password) {
      return records.setPassword(user.id, await hash(password), loginEpoch)
    },

    async authenticate(username, password, startBy) {
      const account = await findAccount(username)
      const matches = await verifyPassword(password, account?.passwordHash ?? (await decoyHash), startBy)
      if (!matches || account === null) return null
      if (needsRehash(account.passwordHash, hashCost)) {
        // Best effort: the login stands whether or not the stronger hash could be stored.
        const stronger = await hash(password).catch(() => null)
        if (stronger !== null && (await records.upgradeHash(account.user.id, account.passwordHash, stronger))) account.passwordHash = stronger
      }
      return account
    },

    async loginEpochMovedSince({ id }, epoch) {
      return (await records.loginEpoch(id)) !== epoch
    },

    async voidLoginsInFlight({ id }) {
      await records.raiseLoginEpoch(id)
    },

    hashPassword: hash,

    recordLogin: ({ id }, epoch) => records.recordLogin(id, epoch),

    list: (query) => records.list(query),
  }
}

export interface UsersPluginOptions {
  /** Created once at start, with admin roles, when set. */
  admin: { username: string; password: string } | null
  hashCost: ScryptCost
}

export default fp<UsersPluginOptions>(
  async function usersPlugin(app, { admin, hashCost }) {
    const users = createUsers(app.db, hashCost)
    app.decorate('users', users)
    if (admin) {
      try {
        await users.create({ ...admin, roles: ADMIN_ROLES })
        app.log.info({ username: admin.username }, 'admin user created')
      } catch (error) {
        if (!(error instanceof UsernameTaken)) throw error
      }
    }
  },
  { name: 'users', dependencies: ['database'] },
)
