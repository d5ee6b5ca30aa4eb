import { useState, type FormEvent } from 'react'
import { api, describeError, type ApiError } from '../api/client'
import { useMe } from '../session'
import { ErrorMessage, Field } from './Form'

export type Outcome<Data = unknown> = { data?: Data; error?: ApiError; response: Response }

/**
 * A change made from a page: its error or its success said on the page, and a fresh sign-in asked for when the
 * service wants one (403 REAUTH_REQUIRED, once the last proof is older than REAUTH_MAX_AGE_SECONDS): the password (and
 * the code with two-factor on) is proved with POST /auth/reauth, then the change runs again.
 */
export function useChange(messages: Partial<Record<string, string>> = {}) {
  const [error, setError] = useState('')
  const [notice, setNotice] = useState('')
  const [pending, setPending] = useState<(() => Promise<void>) | null>(null)

  async function change<Data>(action: () => Promise<Outcome<Data>>, onSuccess: (data: Data | undefined) => string | Promise<string>): Promise<boolean> {
    setNotice('')
    const outcome = await action()
    if (outcome.error?.code === 'REAUTH_REQUIRED') {
      setError('')
      setPending(() => async () => {
        await change(action, onSuccess)
      })
      return false
    }
    setError(describeError(outcome.error, outcome.response, messages))
    if (outcome.response.ok) setNotice(await onSuccess(outcome.data))
    return outcome.response.ok
  }

  const prompt = pending && (
    <ReauthPrompt
      onCancel={() => setPending(null)}
      onProved={async () => {
        setPending(null)
        await pending()
      }}
    />
  )
  return { change, error, notice, prompt }
}

function ReauthPrompt({ onProved, onCancel }: { onProved: () => Promise<void>; onCancel: () => void }) {
  const me = useMe()
  const [error, setError] = useState('')

  async function confirm(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const form = new FormData(event.currentTarget)
    const code = form.get('code')
    const { error, response } = await api.POST('/auth/reauth', {
      body: { password: String(form.get('password')), ...(code !== null && { code: String(code).replace(/\s/g, '') }) },
    })
    if (error) return setError(describeError(error, response, { INVALID_CREDENTIALS: 'That password is wrong.' }))
    await onProved()
  }

  return (
    <form className="reauth" aria-labelledby="reauth-title" onSubmit={(event) => void confirm(event)}>
      <h3 id="reauth-title">Confirm it is you</h3>
      <p>This change needs your password again.</p>
      <Field label="Your password" name="password" type="password" autoComplete="current-password" required autoFocus />
      {me.mfa.enabled && <Field label="Your authentication code" name="code" autoComplete="one-time-code" required />}
      <ErrorMessage>{error}</ErrorMessage>
      <button type="submit">Confirm</button>
      <button type="button" onClick={onCancel}>Cancel</button>
    </form>
  )
}
