import { useEffect, useState, type FormEvent } from 'react'
import { Link, useNavigate } from 'react-router'
import { WEB_APP_PAGES as PAGES } from '../../../src/lib/web-pages'
import { api, describeError } from '../api/client'
import { ErrorMessage, Field } from '../components/Form'
import type { SignInPageState } from '../session'

export function RegisterPage() {
  const navigate = useNavigate()
  const [error, setError] = useState('')
  // A second submit while one is on its way is ignored; the button stays enabled, keeping the keyboard focus.
  const [busy, setBusy] = useState(false)
  useEffect(() => {
    document.title = 'Create an account'
  }, [])

  async function register(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    if (busy) return
    const form = new FormData(event.currentTarget)
    const email = String(form.get('email')).trim()
    setBusy(true)
    const { data, error, response } = await api.POST('/auth/register', {
      body: { username: String(form.get('username')), password: String(form.get('password')), ...(email && { email }) },
    })
    setBusy(false)
    setError(describeError(error, response))
    if (data) {
      const message = email ? `Account created. We mailed a link to ${email}: follow it to confirm your address, then sign in.` : 'Account created. Sign in.'
      void navigate(PAGES.login, { state: { message } satisfies SignInPageState })
    }
  }

  return (
    <main className="narrow">
      <h1>Create an account</h1>
      <form onSubmit={(event) => void register(event)}>
        <Field label="Username" name="username" autoComplete="username" required autoFocus hint="3 to 32 letters, digits, dots, dashes or underscores." />
        <Field label="Password" name="password" type="password" autoComplete="new-password" required minLength={8} hint="At least 8 characters." />
        <Field label="Email" name="email" type="email" autoComplete="email" hint="Optional: to confirm your address and to reset a forgotten password." />
        <ErrorMessage>{error}</ErrorMessage>
        <button type="submit" aria-disabled={busy}>Create account</button>
      </form>
      <p>
        Have an account? <Link to={PAGES.login}>Sign in</Link>
      </p>
    </main>
  )
}
