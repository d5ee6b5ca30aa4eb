import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import { UsernameTaken } from '../../errors.js'
import type { RedisKeys } from '../../lib/keys.js'
import { hashPassword, verifyPassword } from '../../lib/password.js'
import type { RedisClient } from '../../lib/redis-client.js'
import { userRecords, type Account } from '../../lib/user-records.js'
import type { User } from '../../schemas/user.js'

declare module 'fastify' {
  interface FastifyInstance {
    users: Users
  }
}

export type { Account } from '../../lib/user-records.js'

export const DEFAULT_ROLES = ['user']
export const ADMIN_ROLES = ['admin', 'user']

export interface NewUser {
  username: string
  password: string
  roles: string[]
}

/** Who a session or a pending login says the user is: the name may since belong to another account. */
export type UserRef = Pick<User, 'id' | 'username'>

export interface Users {
  /** Throws UsernameTaken when the name exists in any letter case. */
  create(newUser: NewUser): Promise<User>
  /** The user with their credentials (second factor included), or null. */
  findAccount(username: string): Promise<Account | null>
  /** The account of `user` as it is now; null when it is gone or its name now belongs to another account. */
  accountOf(user: UserRef): Promise<Account | null>
  /** False when the name no longer belongs to the user `userId`. Ends logins in flight (see user-records.ts). */
  setPassword(user: UserRef, password: string): Promise<boolean>
  /** The account when the password matches; costs one key derivation whether or not the user exists. */
  authenticate(username: string, password: string): Promise<Account | null>
  /** The user's login epoch moved since `epoch` was read: a login started before then is void (see user-records.ts). */
  loginEpochMovedSince(username: string, epoch: number): Promise<boolean>
  /** Voids the user's logins in flight (see user-records.ts); the sessions service calls it before ending them all. */
  voidLoginsInFlight(user: UserRef): Promise<void>
}

export function createUsers(redis: RedisClient, keys: RedisKeys): Users {
  // Hashed once: verifying an unknown username against it costs what a wrong password costs.
  const decoyHash = hashPassword(randomUUID())
  const records = userRecords(redis)
  const findAccount = (username: string) => records.read(keys.user(username))

  return {
    findAccount,

    async accountOf({ id, username }) {
      const account = await findAccount(username)
      return account?.user.id === id ? account : null
    },

    async create({ username, password, roles }) {
      const user: User = { id: randomUUID(), username, roles, createdAt: new Date().toISOString() }
      if (!(await records.create(keys.user(username), user, await hashPassword(password)))) throw new UsernameTaken()
      return user
    },

    async setPassword({ id, username }, password) {
      return records.setPassword(keys.user(username), id, await hashPassword(password))
    },

    async authenticate(username, password) {
      const account = await findAccount(username)
      const matches = await verifyPassword(password, account?.passwordHash ?? (await decoyHash))
      return matches ? account : null
    },

    async loginEpochMovedSince(username, epoch) {
      return (await records.loginEpoch(keys.user(username))) !== epoch
    },

    async voidLoginsInFlight({ id, username }) {
      await records.raiseLoginEpoch(keys.user(username), id)
    },
  }
}

export interface UsersPluginOptions {
  keys: RedisKeys
  /** Created once at start, with admin roles, when set. */
  admin: { username: string; password: string } | null
}

export default fp<UsersPluginOptions>(
  async function usersPlugin(app, { keys, admin }) {
    const users = createUsers(app.redis, keys)
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
  { name: 'users', dependencies: ['redis'] },
)
