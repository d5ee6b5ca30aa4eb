import { useCallback, useEffect, useState } from 'react'
import { api, type components } from '../api/client'
import { ErrorMessage, Notice } from '../components/Form'
import { useChange } from '../components/ReauthPrompt'
import { when } from './SessionList'

type SecurityEvent = components['schemas']['SecurityEvent']

/** What each event says to the person it happened to. */
const DESCRIPTIONS: Record<SecurityEvent['type'], string> = {
  signup: 'Account created',
  login: 'Signed in',
  login_failed: 'Sign-in refused: wrong password',
  login_locked: 'Sign-in refused: too many wrong passwords',
  login_disabled: 'Sign-in refused: account disabled',
  mfa_failed: 'Wrong two-factor code',
  logout: 'Signed out',
  logout_everywhere: 'Signed out everywhere',
  revoke: 'Sessions ended',
  refresh_token_reused: 'Session ended: a token was used twice (a stolen copy?)',
  password_change: 'Password changed',
  password_change_failed: 'Password change refused: wrong current password',
  password_reset_requested: 'Password reset asked for',
  password_reset: 'Password reset by mailed link',
  password_reset_failed: 'Password reset refused',
  email_change_requested: 'New email address asked for',
  email_change_cancelled: 'New email address taken back',
  email_verified: 'Email address confirmed',
  mfa_enabled: 'Two-factor authentication turned on',
  mfa_disabled: 'Two-factor authentication turned off',
  mfa_reset: 'Two-factor authentication turned off by an administrator',
  recovery_code_used: 'Recovery code used',
  recovery_codes_replaced: 'New recovery codes made',
  reauth: 'Identity confirmed',
  reauth_failed: 'Identity confirmation refused',
  token_created: 'Access token created',
  token_revoked: 'Access token revoked',
  account_disabled: 'Account disabled by an administrator',
  account_enabled: 'Account enabled by an administrator',
  account_deleted: 'Account deleted',
  roles_changed: 'Roles changed by an administrator',
}

/** The line under an event: when, from where, on what, and whether that browser was new. */
function circumstances(event: SecurityEvent): string {
  const parts = [when(event.occurredAt)]
  if (event.address) parts.push(`from ${event.address}`)
  if (event.userAgent) parts.push(event.userAgent)
  if (event.details.newDevice === true) parts.push('a new device')
  return parts.join(' · ')
}

/** The account's security history, newest first, a page at a time, and the way out for a sign-in that was not theirs. */
export function ActivitySection() {
  const [events, setEvents] = useState<SecurityEvent[] | null>(null)
  const [next, setNext] = useState<string | null>(null)
  const { change, error, notice, prompt } = useChange()

  const load = useCallback(async (cursor?: string) => {
    const { data } = await api.GET('/auth/events', { params: { query: { limit: '20', ...(cursor && { cursor }) } } })
    if (!data) return
    setEvents((shown) => (cursor && shown ? [...shown, ...data.events] : data.events))
    setNext(data.nextCursor)
  }, [])
  useEffect(() => void load(), [load])

  const endEverywhere = () =>
    change(() => api.DELETE('/auth/sessions'), async (data) => {
      await load()
      return `Ended ${data?.revoked} other session${data?.revoked === 1 ? '' : 's'}. Change your password too.`
    })

  return (
    <section aria-labelledby="activity-title">
      <h2 id="activity-title">Recent activity</h2>
      <p>Sign-ins and changes to your account. A sign-in you do not recognise? End every other session, then change your password.</p>
      <button type="button" onClick={() => void endEverywhere()}>End every other session</button>
      <Notice>{notice}</Notice>
      <ErrorMessage>{error}</ErrorMessage>
      {prompt}
      {events && (
        <ul className="sessions" aria-label="Security events">
          {events.map((event) => (
            <li key={event.id}>
              <strong>{DESCRIPTIONS[event.type]}</strong>
              {event.actor.type === 'admin' && <span className="badge"> by an administrator</span>}
              <br />
              <small>{circumstances(event)}</small>
            </li>
          ))}
        </ul>
      )}
      {next && <button type="button" onClick={() => void load(next)}>Show older</button>}
    </section>
  )
}
