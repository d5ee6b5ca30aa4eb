import { useEffect, useState, type FormEvent } from 'react'
import { Link } from 'react-router'
import { WEB_APP_PAGES as PAGES } from '../../../src/lib/web-pages'
import { api, describeError } from '../api/client'
import { ErrorMessage, Field, Notice } from '../components/Form'

export function ForgotPasswordPage() {
  const [sent, setSent] = useState('')
  const [error, setError] = useState('')
  useEffect(() => {
    document.title = 'Forgot your password'
  }, [])

  async function send(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const email = String(new FormData(event.currentTarget).get('email'))
    const { data, error, response } = await api.POST('/auth/password/forgot', { body: { email } })
    setError(describeError(error, response))
    // The same answer whatever the address: the page cannot tell, and says so.
    if (data) setSent(`If an account has ${email} as its confirmed address, a reset link is on its way there.`)
  }

  return (
    <main className="narrow">
      <h1>Forgot your password</h1>
      {sent ? (
        <Notice>{sent}</Notice>
      ) : (
        <form onSubmit={(event) => void send(event)}>
          <Field label="Email" name="email" type="email" autoComplete="email" required autoFocus />
          <ErrorMessage>{error}</ErrorMessage>
          <button type="submit">Send reset link</button>
        </form>
      )}
      <p><Link to={PAGES.login}>Back to sign in</Link></p>
    </main>
  )
}
