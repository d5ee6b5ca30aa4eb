import createClient, { type Client } from 'openapi-fetch'
import type { components, paths } from './generated/openapi.js'

type User = components['schemas']['User']
type Session = components['schemas']['Session']

export interface WalkthroughResult {
  registered: User
  me: { username: string; emailVerified: boolean }
  sessions: Session[]
  loggedOut: number
  afterLogout: string
}

/**
 * A client's first steps, written only against the generated types: register, log in for a bearer token, read who
 * it is and its sessions, log out. A change to the contract that breaks any of it fails the type check.
 */
export async function walkthrough(baseUrl: string, username: string, password: string): Promise<WalkthroughResult> {
  const client = createClient<paths>({ baseUrl })
  const registered = await client.POST('/auth/register', { body: { username, password } })
  if (!registered.data) throw new Error(`register answered ${registered.response.status} ${registered.error?.code}`)

  const login = await client.POST('/auth/login', { body: { username, password, transport: 'token' } })
  if (!login.data) throw new Error(`login answered ${login.response.status} ${login.error?.code}`)
  if ('mfaRequired' in login.data) throw new Error('this account has no second factor')
  const headers = { authorization: `Bearer ${login.data.token}` }

  const me = await client.GET('/auth/me', { headers })
  if (!me.data) throw new Error(`GET /auth/me answered ${me.response.status}`)
  const sessions = await client.GET('/auth/sessions', { headers })
  if (!sessions.data) throw new Error(`GET /auth/sessions answered ${sessions.response.status}`)

  const logout = await client.POST('/auth/logout', { headers, body: null })
  const afterLogout = await client.GET('/auth/me', { headers })
  return {
    registered: registered.data.user,
    me: { username: me.data.user.username, emailVerified: me.data.emailVerified },
    sessions: sessions.data.sessions,
    loggedOut: logout.response.status,
    afterLogout: afterLogout.error?.code ?? 'none',
  }
}

/** What the contract refuses: each line must fail the type check, or the generated types are too loose. */
export function refusedByTheContract(client: Client<paths>): void {
  // @ts-expect-error: a password is a string
  void client.POST('/auth/register', { body: { username: 'someone', password: 12345678 } })
  // @ts-expect-error: "transport" is "cookie", "token" or "jwt"
  void client.POST('/auth/login', { body: { username: 'someone', password: 'a password', transport: 'carrier-pigeon' } })
  // @ts-expect-error: there is no such route
  void client.GET('/auth/whoami')
}
