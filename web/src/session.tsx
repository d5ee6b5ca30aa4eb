import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react'
import { api, type Me } from './api/client'

/** Why a person was sent to the sign-in page: the page says it (LoginPage, from the navigation's state). */
export const END_MESSAGES = {
  ended: 'Your session has ended: it expired, or it was ended from another device or by an administrator. Sign in again.',
  idle: 'You were signed out after a period of inactivity. Sign in again.',
  signedOutElsewhere: 'You signed out in another tab.',
} as const

/** What the sign-in page is sent with: a sentence to show. */
export interface SignInPageState {
  message?: string | null
}

type SessionState =
  | { status: 'loading' }
  | { status: 'signed-out'; message: string | null }
  | { status: 'signed-in'; me: Me }

interface SessionContextValue {
  state: SessionState
  /** Reads GET /auth/me again (after a sign-in, or a change the page shows). */
  refresh(): Promise<void>
  /** Ends the session (POST /auth/logout) in this tab and the others; `message` is what the sign-in page says. */
  signOut(message?: string): Promise<void>
  /** Shown a minute before the idle timeout; `stay` reads the session, which slides it. */
  idleNotice: { stay(): Promise<void> } | null
}

const SessionContext = createContext<SessionContextValue | null>(null)

/** What one tab tells the others of this origin (BroadcastChannel): a sign-out there is one here too. */
const tabs = typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel('redis-session-api')
type TabMessage = 'signed-in' | 'signed-out'

/** How long before the idle timeout the notice offers to stay signed in. */
const NOTICE_BEFORE_MS = 60_000

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: 'loading' })
  const [noticeShown, setNoticeShown] = useState(false)
  // When the app last talked to the service with this session: activity the server's idle timer has seen too.
  const lastActivity = useRef(0)

  const load = useCallback(async (messageIfGone: string | null) => {
    const { data } = await api.GET('/auth/me')
    setNoticeShown(false)
    setState(data ? { status: 'signed-in', me: data } : { status: 'signed-out', message: messageIfGone })
  }, [])

  // Any answer that says the session is gone ends it here, whatever the page was doing.
  useEffect(() => {
    const middleware = {
      async onResponse({ response }: { response: Response }) {
        if (response.status === 401) {
          const body = (await response.clone().json().catch(() => null)) as { code?: string } | null
          if (body?.code === 'SESSION_EXPIRED') setState((current) => (current.status === 'signed-in' ? { status: 'signed-out', message: END_MESSAGES.ended } : current))
        } else if (response.ok) {
          lastActivity.current = Date.now()
        }
        return undefined
      },
    }
    api.use(middleware)
    return () => api.eject(middleware)
  }, [])

  useEffect(() => {
    void load(null)
    if (!tabs) return
    const onMessage = (event: MessageEvent<TabMessage>) => {
      if (event.data === 'signed-out') setState({ status: 'signed-out', message: END_MESSAGES.signedOutElsewhere })
      else void load(null)
    }
    tabs.addEventListener('message', onMessage)
    return () => tabs.removeEventListener('message', onMessage)
  }, [load])

  // The idle timeout: a notice a minute before it, then the sign-in page once the session is gone.
  const expiresAt = state.status === 'signed-in' ? Date.parse(state.me.session.expiresAt) : null
  useEffect(() => {
    if (expiresAt === null) return
    const learnedAt = Date.now()
    const noticeTimer = setTimeout(() => {
      // Activity since: the session has slid with it; read its new expiry rather than warn.
      if (lastActivity.current > learnedAt) void load(END_MESSAGES.idle)
      else setNoticeShown(true)
    }, Math.max(0, expiresAt - NOTICE_BEFORE_MS - learnedAt))
    const endTimer = setTimeout(() => void load(END_MESSAGES.idle), Math.max(0, expiresAt - learnedAt + 1000))
    return () => {
      clearTimeout(noticeTimer)
      clearTimeout(endTimer)
    }
  }, [expiresAt, load])

  const value = useMemo<SessionContextValue>(() => ({
    state,
    refresh: async () => {
      await load(null)
      tabs?.postMessage('signed-in' satisfies TabMessage)
    },
    signOut: async (message) => {
      await api.POST('/auth/logout', { body: {} })
      tabs?.postMessage('signed-out' satisfies TabMessage)
      setState({ status: 'signed-out', message: message ?? null })
    },
    idleNotice: noticeShown ? { stay: () => load(END_MESSAGES.idle) } : null,
  }), [state, load, noticeShown])

  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>
}

export function useSession(): SessionContextValue {
  const value = useContext(SessionContext)
  if (!value) throw new Error('useSession outside SessionProvider')
  return value
}

/** The signed-in user's details; only under a page that RequireSignIn guards. */
export function useMe(): Me {
  const { state } = useSession()
  if (state.status !== 'signed-in') throw new Error('useMe outside a signed-in page')
  return state.me
}
