import type { FormEvent } from 'react'
import { api } from '../api/client'
import { ErrorMessage, Field } from '../components/Form'
import { useChange } from '../components/ReauthPrompt'
import { useMe, useSession } from '../session'

/** Deleting the account, with the password (and the code) as proof. */
export function DeleteAccountSection() {
  const me = useMe()
  const { signOut } = useSession()
  const { change, error, prompt } = useChange({
    INVALID_CREDENTIALS: 'That password is wrong.',
    LAST_ADMIN: 'You are the last administrator: make another one first.',
  })

  function remove(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const form = new FormData(event.currentTarget)
    const code = form.get('code')
    const body = { password: String(form.get('password')), ...(code !== null && { code: String(code).replace(/\s/g, '') }) }
    // The service has ended the session already: this tells the other tabs, and the sign-in page says why.
    void change(() => api.DELETE('/auth/account', { body }), async () => {
      await signOut('Your account is deleted.')
      return ''
    })
  }

  return (
    <section aria-labelledby="delete-title">
      <h2 id="delete-title">Delete account</h2>
      <p>Your account and everything stored for it are deleted, and every session ends. This cannot be undone.</p>
      <form onSubmit={remove}>
        <Field label="Password to delete the account" name="password" type="password" autoComplete="current-password" required />
        {me.mfa.enabled && <Field label="Authentication code to delete the account" name="code" autoComplete="one-time-code" required />}
        <ErrorMessage>{error}</ErrorMessage>
        <button type="submit" className="danger">Delete my account</button>
      </form>
      {prompt}
    </section>
  )
}
