import { useState, type FormEvent } from 'react'
import { api, describeError } from '../api/client'
import { ErrorMessage, Field, Notice } from '../components/Form'
import { useFreshAction } from '../components/ReauthPrompt'

/** Changing the password: every other session ends, this one stays (with a new ID). */
export function PasswordSection() {
  const [error, setError] = useState('')
  const [notice, setNotice] = useState('')
  const { run, prompt } = useFreshAction()

  async function change(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const formElement = event.currentTarget
    const form = new FormData(formElement)
    const body = { currentPassword: String(form.get('currentPassword')), newPassword: String(form.get('newPassword')) }
    setNotice('')
    const outcome = await run(async () => {
      const result = await api.PUT('/auth/password', { body })
      if (result.response.ok) {
        setNotice('Your password is changed. Every other session was signed out.')
        formElement.reset()
      }
      return result
    })
    setError(outcome.error?.code === 'REAUTH_REQUIRED' ? '' : outcome.error?.code === 'INVALID_CREDENTIALS' ? 'The current password is wrong.' : describeError(outcome.error, outcome.response))
  }

  return (
    <section aria-labelledby="password-title">
      <h2 id="password-title">Password</h2>
      <form onSubmit={(event) => void change(event)}>
        <Field label="Current password" name="currentPassword" type="password" autoComplete="current-password" required />
        <Field label="New password" name="newPassword" type="password" autoComplete="new-password" required minLength={8} />
        <ErrorMessage>{error}</ErrorMessage>
        <Notice>{notice}</Notice>
        <button type="submit">Change password</button>
      </form>
      {prompt}
    </section>
  )
}
