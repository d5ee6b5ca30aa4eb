import type { ReactNode } from 'react'
import { Navigate, NavLink, Outlet, useLocation } from 'react-router'
import { WEB_APP_PAGES as PAGES } from '../../../src/lib/web-pages'
import { Loading } from './Loading'
import { useMe, useSession, type SignInPageState } from '../session'

/** A page for signed-in users: anyone else goes to the sign-in page, and comes back here after it. */
export function RequireSignIn({ children }: { children: ReactNode }) {
  const { state } = useSession()
  const location = useLocation()
  if (state.status === 'loading') return <Loading />
  if (state.status === 'signed-out') {
    const next = encodeURIComponent(location.pathname + location.search)
    return <Navigate to={`${PAGES.login}?next=${next}`} state={{ message: state.message } satisfies SignInPageState} replace />
  }
  return children
}

/** The frame of every signed-in page: where to go, who is signed in, "Sign out", and the idle notice. */
export function SignedInLayout() {
  const { signOut, idleNotice } = useSession()
  const me = useMe()
  return (
    <>
      <header>
        <nav aria-label="Main">
          <NavLink to={PAGES.dashboard}>Dashboard</NavLink>
          <NavLink to={PAGES.account}>Account</NavLink>
          {me.user.roles.includes('admin') && <NavLink to={PAGES.users}>Users</NavLink>}
        </nav>
        <span className="who">Signed in as {me.user.username}</span>
        <button type="button" onClick={() => void signOut()}>Sign out</button>
      </header>
      {idleNotice && (
        <div role="alertdialog" aria-labelledby="idle-title" className="idle-notice">
          <p id="idle-title">Your session ends in a minute because you have been inactive.</p>
          <button type="button" onClick={() => void idleNotice.stay()} autoFocus>Stay signed in</button>
        </div>
      )}
      <main>
        <Outlet />
      </main>
    </>
  )
}
