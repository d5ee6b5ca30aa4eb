import { useState, type FormEvent } from 'react'
import { api, describeError, type ApiError } from '../api/client'
import { useMe } from '../session'
import { ErrorMessage, Field } from './Form'

type Outcome = { error?: ApiError; response: Response }

/**
 * Runs a change that needs a fresh sign-in (the service answers 403 REAUTH_REQUIRED when the last proof is older
 * than REAUTH_MAX_AGE_SECONDS): on that answer, asks for the password (and the code with two-factor on), proves
 * it (POST /auth/reauth), and runs the change again.
 */
export function useFreshAction() {
  const [pending, setPending] = useState<(() => Promise<Outcome>) | null>(null)

  async function run(action: () => Promise<Outcome>): Promise<Outcome> {
    const outcome = await action()
    if (outcome.error?.code === 'REAUTH_REQUIRED') setPending(() => action)
    return outcome
  }

  const prompt = pending && <ReauthPrompt onDone={() => setPending(null)} retry={pending} />
  return { run, prompt }
}

function ReauthPrompt({ retry, onDone }: { retry: () => Promise<Outcome>; onDone: () => void }) {
  const me = useMe()
  const [error, setError] = useState('')

  async function confirm(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const form = new FormData(event.currentTarget)
    const code = form.get('code')
    const { error, response } = await api.POST('/auth/reauth', {
      body: { password: String(form.get('password')), ...(code !== null && { code: String(code).replace(/\s/g, '') }) },
    })
    if (error) return setError(describeError(error, response))
    await retry()
    onDone()
  }

  return (
    <form className="reauth" aria-labelledby="reauth-title" onSubmit={(event) => void confirm(event)}>
      <h3 id="reauth-title">Confirm it is you</h3>
      <p>This change needs your password again.</p>
      <Field label="Your password" name="password" type="password" autoComplete="current-password" required autoFocus />
      {me.mfa.enabled && <Field label="Authentication code" name="code" autoComplete="one-time-code" required />}
      <ErrorMessage>{error}</ErrorMessage>
      <button type="submit">Confirm</button>
      <button type="button" onClick={onDone}>Cancel</button>
    </form>
  )
}
