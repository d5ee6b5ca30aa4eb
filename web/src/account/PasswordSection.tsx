import type { FormEvent } from 'react'
import { api } from '../api/client'
import { ErrorMessage, Field, Notice } from '../components/Form'
import { useChange } from '../components/ReauthPrompt'

/** Changing the password: every other session ends, this one stays (with a new ID). */
export function PasswordSection() {
  const { change, error, notice, prompt } = useChange({ INVALID_CREDENTIALS: 'The current password is wrong.' })

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const formElement = event.currentTarget
    const form = new FormData(formElement)
    const body = { currentPassword: String(form.get('currentPassword')), newPassword: String(form.get('newPassword')) }
    void change(() => api.PUT('/auth/password', { body }), () => {
      formElement.reset()
      return 'Your password is changed. Every other session was signed out.'
    })
  }

  return (
    <section aria-labelledby="password-title">
      <h2 id="password-title">Password</h2>
      <form onSubmit={submit}>
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
