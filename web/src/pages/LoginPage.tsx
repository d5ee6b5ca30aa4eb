import { useEffect, useState, type FormEvent } from 'react'
import { Link, useLocation, useNavigate, useSearchParams } from 'react-router'
import { WEB_APP_PAGES as PAGES } from '../../../src/lib/web-pages'
import { api, describeError } from '../api/client'
import { ErrorMessage, Field, Notice } from '../components/Form'
import { useSession, type SignInPageState } from '../session'

/** Only a path of this site: `?next=https://elsewhere` must not turn a sign-in into a redirect to another site. */
function safeNext(next: string | null): string {
  return next?.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : PAGES.dashboard
}

export function LoginPage() {
  const { state, refresh } = useSession()
  const navigate = useNavigate()
  const [params] = useSearchParams()
  const location = useLocation()
  const next = safeNext(params.get('next'))
  const { message } = (location.state as SignInPageState | null) ?? {}
  const [step, setStep] = useState<'password' | 'code'>('password')
  const [error, setError] = useState('')
  // A second submit while one is on its way is ignored; the button stays enabled, keeping the keyboard focus.
  const [busy, setBusy] = useState(false)

  useEffect(() => {
    document.title = 'Sign in'
  }, [])
  // Already signed in (or just now): on to the page asked for.
  useEffect(() => {
    if (state.status === 'signed-in') void navigate(next, { replace: true })
  }, [state.status, navigate, next])

  async function signIn(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    if (busy) return
    const form = new FormData(event.currentTarget)
    // Cleared first: the next message is a new alert, announced even when its words are the same.
    setError('')
    setBusy(true)
    const { data, error, response } = await api.POST('/auth/login', {
      body: { username: String(form.get('username')), password: String(form.get('password')), remember: form.get('remember') === 'on' },
    })
    setBusy(false)
    setError(describeError(error, response))
    if (data && 'mfaRequired' in data) setStep('code')
    else if (data) await refresh()
  }

  async function verify(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    if (busy) return
    const code = String(new FormData(event.currentTarget).get('code')).replace(/\s/g, '')
    setError('')
    setBusy(true)
    const { data, error, response } = await api.POST('/auth/login/mfa', { body: { code } })
    setBusy(false)
    setError(describeError(error, response))
    if (error?.code === 'MFA_LOGIN_EXPIRED' || error?.code === 'LOGIN_INTERRUPTED') setStep('password')
    if (data) await refresh()
  }

  return (
    <main className="narrow">
      <h1>Sign in</h1>
      <Notice>{message}</Notice>
      {step === 'password' ? (
        <form onSubmit={(event) => void signIn(event)}>
          <Field label="Username" name="username" autoComplete="username" required autoFocus />
          <Field label="Password" name="password" type="password" autoComplete="current-password" required />
          <div className="check">
            <input id="remember" name="remember" type="checkbox" />
            <label htmlFor="remember">Remember me</label>
          </div>
          <ErrorMessage>{error}</ErrorMessage>
          <button type="submit" aria-disabled={busy}>Sign in</button>
        </form>
      ) : (
        <form onSubmit={(event) => void verify(event)}>
          <p>Enter the code from your authenticator app, or one of your recovery codes.</p>
          <Field label="Authentication code" name="code" autoComplete="one-time-code" inputMode="text" required autoFocus />
          <ErrorMessage>{error}</ErrorMessage>
          <button type="submit" aria-disabled={busy}>Verify</button>
        </form>
      )}
      <p>
        <Link to={PAGES.forgotPassword}>Forgot your password?</Link> · <Link to={PAGES.register}>Create an account</Link>
      </p>
    </main>
  )
}
