import { Navigate, Route, Routes } from 'react-router'
import { WEB_APP_PAGES as PAGES } from '../../src/lib/web-pages'
import { RequireSignIn, SignedInLayout } from './components/SignedInLayout'
import { useSession } from './session'
import { AccountPage } from './pages/AccountPage'
import { DashboardPage } from './pages/DashboardPage'
import { ForgotPasswordPage } from './pages/ForgotPasswordPage'
import { LoginPage } from './pages/LoginPage'
import { RegisterPage } from './pages/RegisterPage'
import { ResetPasswordPage } from './pages/ResetPasswordPage'
import { UsersPage } from './pages/UsersPage'
import { VerifyEmailPage } from './pages/VerifyEmailPage'

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
        <Route path={PAGES.account} element={<AccountPage />} />
        <Route path={PAGES.users} element={<UsersPage />} />
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
