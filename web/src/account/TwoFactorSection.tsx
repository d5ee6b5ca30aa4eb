import { useState, type FormEvent } from 'react'
import { api } from '../api/client'
import { ErrorMessage, Field, Notice } from '../components/Form'
import { useChange } from '../components/ReauthPrompt'
import { useMe, useSession } from '../session'

const digits = (value: FormDataEntryValue | null) => String(value).replace(/\s/g, '')

/**
 * Two-factor sign-in with an authenticator app: enrol (scan the QR code, or type the secret, then confirm with a
 * code), the recovery codes shown once, and turning it off with a code.
 */
export function TwoFactorSection() {
  const { mfa } = useMe()
  const { refresh } = useSession()
  const [enrolment, setEnrolment] = useState<{ secret: string; qrCode: string } | null>(null)
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | null>(null)
  const { change, error, notice, prompt } = useChange({ INVALID_MFA_CODE: 'That code is not right: enter the code your app shows now.' })

  const start = () =>
    change(() => api.POST('/auth/mfa/totp'), (data) => {
      if (data) setEnrolment({ secret: data.secret, qrCode: data.qrCode })
      return ''
    })

  function confirm(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const code = digits(new FormData(event.currentTarget).get('code'))
    void change(() => api.POST('/auth/mfa/totp/confirm', { body: { code } }), async (data) => {
      setEnrolment(null)
      setRecoveryCodes(data?.recoveryCodes ?? null)
      await refresh()
      return 'Two-factor authentication is on. Every other session was signed out.'
    })
  }

  function turnOff(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const code = digits(new FormData(event.currentTarget).get('code'))
    void change(() => api.DELETE('/auth/mfa/totp', { body: { code } }), async () => {
      setRecoveryCodes(null)
      await refresh()
      return 'Two-factor authentication is off.'
    })
  }

  return (
    <section aria-labelledby="mfa-title">
      <h2 id="mfa-title">Two-factor authentication</h2>
      <Notice>{notice}</Notice>
      <ErrorMessage>{error}</ErrorMessage>
      {prompt}
      {recoveryCodes && (
        <div aria-labelledby="codes-title">
          <h3 id="codes-title">Your recovery codes</h3>
          <p>Each works once, in place of a code from your app. Keep them somewhere safe: they are not shown again.</p>
          <ul aria-label="Recovery codes" className="codes">
            {recoveryCodes.map((code) => <li key={code}><code>{code}</code></li>)}
          </ul>
        </div>
      )}
      {mfa.enabled ? (
        <form onSubmit={turnOff}>
          <p>On since {mfa.enabledAt && new Date(mfa.enabledAt).toLocaleDateString()}; {mfa.recoveryCodesLeft} recovery codes left.</p>
          <Field label="Code to turn it off" name="code" autoComplete="one-time-code" required />
          <button type="submit">Turn off two-factor authentication</button>
        </form>
      ) : enrolment ? (
        <form onSubmit={confirm}>
          <p>Scan this code with your authenticator app, or type the secret into it, then enter the code it shows.</p>
          <img src={enrolment.qrCode} alt="QR code of the secret for your authenticator app" width={200} height={200} />
          <p>Secret: <code aria-label="Secret">{enrolment.secret}</code></p>
          <Field label="Code from your app" name="code" autoComplete="one-time-code" inputMode="numeric" required autoFocus />
          <button type="submit">Turn on</button>
        </form>
      ) : (
        <button type="button" onClick={() => void start()}>Set up two-factor authentication</button>
      )}
    </section>
  )
}
