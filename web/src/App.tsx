import { lazy, Suspense } from 'react'
import { Navigate, Route, Routes } from 'react-router'
import { WEB_APP_PAGES as PAGES } from '../../src/lib/web-pages'
import { Loading } from './components/Loading'
import { RequireSignIn, SignedInLayout } from './components/SignedInLayout'
import { useSession } from './session'
import { DashboardPage } from './pages/DashboardPage'
import { ForgotPasswordPage } from './pages/ForgotPasswordPage'
import { LoginPage } from './pages/LoginPage'
import { RegisterPage } from './pages/RegisterPage'
import { ResetPasswordPage } from './pages/ResetPasswordPage'
import { VerifyEmailPage } from './pages/VerifyEmailPage'

// Loaded when first opened: the sign-in page, the first load of most visits, carries none of their code.
const AccountPage = lazy(() => import('./pages/AccountPage').then(({ AccountPage }) => ({ default: AccountPage })))
const UsersPage = lazy(() => import('./pages/UsersPage').then(({ UsersPage }) => ({ default: UsersPage })))

/** One route per page path the service serves (src/lib/web-pages.ts). */
export function App() {
  return (
    <Routes>
      <Route path={PAGES.home} element={<Home />} />
      <Route path={PAGES.login} element={<LoginPage />} />
      <Route path={PAGES.register} element={<RegisterPage />} />
      <Route path={PAGES.verifyEmail} element={<VerifyEmailPage />} />
      <Route path={PAGES.forgotPassword} element={<ForgotPasswordPage />} />
      <Route path={PAGES.resetPassword} element={<ResetPasswordPage />} />
      <Route element={<RequireSignIn><SignedInLayout /></RequireSignIn>}>
        <Route path={PAGES.dashboard} element={<DashboardPage />} />
        <Route path={PAGES.account} element={<Suspense fallback={<Loading />}><AccountPage /></Suspense>} />
        <Route path={PAGES.users} element={<Suspense fallback={<Loading />}><UsersPage /></Suspense>} />
      </Route>
    </Routes>
  )
}

/** `/`: the dashboard when signed in, the sign-in page otherwise. */
function Home() {
  const { state } = useSession()
  if (state.status === 'loading') return null
  return <Navigate to={state.status === 'signed-in' ? PAGES.dashboard : PAGES.login} replace />
}
