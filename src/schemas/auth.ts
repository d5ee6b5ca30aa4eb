import { Type } from '@sinclair/typebox'
import { User } from './user.js'

export const MeResponse = Type.Object(
  {
    user: User,
    session: Type.Object(
      {
        createdAt: Type.String({ format: 'date-time' }),
        expiresAt: Type.String({ format: 'date-time' }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
)
