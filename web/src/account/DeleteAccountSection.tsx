import { useState, type FormEvent } from 'react'
import { useNavigate } from 'react-router'
import { WEB_APP_PAGES as PAGES } from '../../../src/lib/web-pages'
import { api, describeError } from '../api/client'
import { ErrorMessage, Field } from '../components/Form'
import { useMe, useSession } from '../session'

/** Deleting the account, with the password (and the code) as proof. */
export function DeleteAccountSection() {
  const me = useMe()
  const { signOut } = useSession()
  const navigate = useNavigate()
  const [error, setError] = useState('')

  async function remove(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const form = new FormData(event.currentTarget)
    const code = form.get('code')
    const { error, response } = await api.DELETE('/auth/account', {
      body: { password: String(form.get('password')), ...(code !== null && { code: String(code).replace(/\s/g, '') }) },
    })
    setError(describeError(error, response, { INVALID_CREDENTIALS: 'That password is wrong.', LAST_ADMIN: 'You are the last administrator: make another one first.' }))
    if (response.ok) {
      // The service has ended the session already: this tells the other tabs, and the page.
      await signOut()
      void navigate(PAGES.login, { state: { notice: 'Your account is deleted.' }, replace: true })
    }
  }

  return (
    <section aria-labelledby="delete-title">
      <h2 id="delete-title">Delete account</h2>
      <p>Your account and everything stored for it are deleted, and every session ends. This cannot be undone.</p>
      <form onSubmit={(event) => void remove(event)}>
        <Field label="Password to delete the account" name="password" type="password" autoComplete="current-password" required />
        {me.mfa.enabled && <Field label="Authentication code to delete the account" name="code" autoComplete="one-time-code" required />}
        <ErrorMessage>{error}</ErrorMessage>
        <button type="submit" className="danger">Delete my account</button>
      </form>
    </section>
  )
}
