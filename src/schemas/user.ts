import { Type, type Static } from '@sinclair/typebox'
import { named, ref } from './components.js'

export const USERNAME_PATTERN = '^[A-Za-z0-9_.-]+$'

export const Username = Type.String({ minLength: 3, maxLength: 32, pattern: USERNAME_PATTERN })
// The upper bound keeps the key-derivation function from being a denial-of-service lever.
export const Password = Type.String({ minLength: 8, maxLength: 256 })
/** A password being checked rather than chosen: whatever was chosen under older rules still gets a hearing. */
export const CurrentPassword = Type.String({ minLength: 1, maxLength: 256 })

export const Credentials = Type.Object({ username: Username, password: Password }, { additionalProperties: false })
export type Credentials = Static<typeof Credentials>

export const User = named('User', Type.Object(
  {
    id: Type.String(),
    username: Type.String(),
    roles: Type.Array(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false, description: 'An account: its id, name, roles and creation time' },
))
export type User = Static<typeof User>

export const UserResponse = Type.Object({ user: ref(User) }, { additionalProperties: false })
