import { DisableView, AccountView, Ended } from './accounts.js'
import { Preferences } from './api.js'
import { LoggedIn, SecondFactorRequired, Session, TokenPair } from './auth.js'
import type { Named } from './components.js'
import { ErrorResponse } from './error.js'
import { MfaStatus } from './mfa.js'
import { SecurityEventView } from './security-events.js'
import { TokenView } from './tokens.js'
import { User } from './user.js'

/** Every named schema, for the app to register before its routes (their `ref`s point here). */
export const NAMED_SCHEMAS: readonly Named[] = [
  ErrorResponse,
  User,
  Session,
  LoggedIn,
  TokenPair,
  SecondFactorRequired,
  MfaStatus,
  TokenView,
  Preferences,
  AccountView,
  DisableView,
  Ended,
  SecurityEventView,
]
