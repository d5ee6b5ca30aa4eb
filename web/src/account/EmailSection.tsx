import type { FormEvent } from 'react'
import { api } from '../api/client'
import { ErrorMessage, Field, Notice } from '../components/Form'
import { useChange } from '../components/ReauthPrompt'
import { useMe, useSession } from '../session'

/** The account's address: change it (confirmed from a mail), take a change back, or have the link sent again. */
export function EmailSection() {
  const me = useMe()
  const { refresh } = useSession()
  const { change, error, notice, prompt } = useChange()
  const waiting = me.pendingEmail ?? (me.email !== null && !me.emailVerified ? me.email : null)

  function changeAddress(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const email = String(new FormData(event.currentTarget).get('email'))
    void change(() => api.PUT('/auth/email', { body: { email } }), async () => {
      await refresh()
      return `We mailed a link to ${email}: follow it to confirm the address.`
    })
  }

  const resend = (email: string) =>
    change(() => api.POST('/auth/email/resend', { body: { email, username: me.user.username } }), () => `A new link is on its way to ${email}.`)

  const takeBack = () =>
    change(() => api.DELETE('/auth/email/pending'), async () => {
      await refresh()
      return 'The change of address is taken back.'
    })

  return (
    <section aria-labelledby="email-title">
      <h2 id="email-title">Email</h2>
      <Notice>{notice}</Notice>
      <ErrorMessage>{error}</ErrorMessage>
      {prompt}
      <p>
        {me.email === null ? 'No address yet.' : `${me.email} (${me.emailVerified ? 'confirmed' : 'not confirmed yet'})`}
        {me.pendingEmail && ` · waiting for confirmation: ${me.pendingEmail}`}
      </p>
      {waiting && <button type="button" onClick={() => void resend(waiting)}>Resend confirmation link</button>}
      {me.pendingEmail && <button type="button" onClick={() => void takeBack()}>Keep the current address</button>}
      <form onSubmit={changeAddress} className="inline">
        <Field label="New email address" name="email" type="email" autoComplete="email" required />
        <button type="submit">Change email</button>
      </form>
    </section>
  )
}
