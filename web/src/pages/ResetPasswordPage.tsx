import { useEffect, useState, type FormEvent } from 'react'
import { Link, useNavigate } from 'react-router'
import { WEB_APP_PAGES as PAGES } from '../../../src/lib/web-pages'
import { api, describeError } from '../api/client'
import { ErrorMessage, Field } from '../components/Form'
import type { SignInPageState } from '../session'
import { useMailedToken } from './mailed-token'

/** The page a reset mail links to: a new password, and the second factor when the account has one. */
export function ResetPasswordPage() {
  const token = useMailedToken()
  const navigate = useNavigate()
  const [needsCode, setNeedsCode] = useState(false)
  const [error, setError] = useState('')
  useEffect(() => {
    document.title = 'Choose a new password'
  }, [])

  async function reset(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const form = new FormData(event.currentTarget)
    const code = form.get('code')
    const { error, response } = await api.POST('/auth/password/reset', {
      body: { token: token ?? '', newPassword: String(form.get('newPassword')), ...(code !== null && { code: String(code).replace(/\s/g, '') }) },
    })
    if (error?.code === 'MFA_CODE_REQUIRED') {
      setNeedsCode(true)
      setError('This account has two-factor authentication: enter a code from your app, or a recovery code.')
    } else if (error?.code === 'INVALID_TOKEN') {
      setError('This link has expired or was already used. Ask for a new one.')
    } else {
      setError(describeError(error, response))
    }
    if (response.ok) void navigate(PAGES.login, { state: { message: 'Your password is changed, and every session was signed out. Sign in with the new password.' } satisfies SignInPageState })
  }

  if (!token) {
    return (
      <main className="narrow">
        <h1>Choose a new password</h1>
        <p role="alert">This page needs the link from the mail we sent you. <Link to={PAGES.forgotPassword}>Ask for a new link</Link>.</p>
      </main>
    )
  }
  return (
    <main className="narrow">
      <h1>Choose a new password</h1>
      <form onSubmit={(event) => void reset(event)}>
        <Field label="New password" name="newPassword" type="password" autoComplete="new-password" required minLength={8} autoFocus />
        {needsCode && <Field label="Authentication code" name="code" autoComplete="one-time-code" required />}
        <ErrorMessage>{error}</ErrorMessage>
        <button type="submit">Set new password</button>
      </form>
      <p><Link to={PAGES.forgotPassword}>Ask for a new link</Link></p>
    </main>
  )
}
