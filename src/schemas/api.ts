import { Type, type Static } from '@sinclair/typebox'
import { named, ref } from './components.js'

export const DashboardResponse = Type.Object({ message: Type.String() }, { additionalProperties: false })
export const CountResponse = Type.Object({ views: Type.Integer({ minimum: 1 }) }, { additionalProperties: false })

/** Display preferences kept in the session, one session field each, so that changes to different ones never collide. */
export const Preferences = named('Preferences', Type.Object(
  {
    theme: Type.Optional(Type.Union([Type.Literal('light'), Type.Literal('dark'), Type.Literal('system')])),
    /** A BCP 47 language tag such as `en` or `pt-BR`. */
    language: Type.Optional(Type.String({ minLength: 2, maxLength: 35, pattern: '^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$' })),
  },
  { additionalProperties: false, description: 'Display preferences, kept in the session' },
))
export type Preferences = Static<typeof Preferences>

export const PreferencesChange = Type.Object(Preferences.properties, { additionalProperties: false, minProperties: 1 })
export const PreferencesResponse = Type.Object({ preferences: ref(Preferences) }, { additionalProperties: false })
