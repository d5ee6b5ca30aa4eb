import Bowser from 'bowser'
import { useCallback, useEffect, useState } from 'react'
import { api, describeError, type components } from '../api/client'
import { ErrorMessage, Notice } from '../components/Form'
import { useFreshAction } from '../components/ReauthPrompt'

type Session = components['schemas']['Session']

/** "Chrome on macOS" from a User-Agent header; the header itself when it says nothing recognisable. */
function deviceOf(userAgent: string): string {
  const { browser, os } = Bowser.parse(userAgent)
  if (!browser.name) return userAgent || 'Unknown device'
  return os.name ? `${browser.name} on ${os.name}` : browser.name
}

const when = (iso: string) => new Date(iso).toLocaleString()

/** Every session of the user: this device, the others with "End session" each, and "Sign out everywhere else". */
export function SessionList() {
  const [sessions, setSessions] = useState<Session[] | null>(null)
  const [error, setError] = useState('')
  const [notice, setNotice] = useState('')
  const { run, prompt } = useFreshAction()

  const load = useCallback(async () => {
    const { data } = await api.GET('/auth/sessions')
    if (data) setSessions(data.sessions)
  }, [])
  useEffect(() => void load(), [load])

  async function end(session: Session) {
    const outcome = await run(async () => {
      const result = await api.DELETE('/auth/sessions/{id}', { params: { path: { id: session.id } } })
      if (result.response.ok) {
        setNotice(`Ended the session of ${deviceOf(session.userAgent)}.`)
        await load()
      }
      return result
    })
    setError(outcome.error?.code === 'REAUTH_REQUIRED' ? '' : describeError(outcome.error, outcome.response))
  }

  async function endOthers() {
    const outcome = await run(async () => {
      const result = await api.DELETE('/auth/sessions')
      if (result.data) {
        setNotice(`Signed out ${result.data.revoked} other session${result.data.revoked === 1 ? '' : 's'}.`)
        await load()
      }
      return result
    })
    setError(outcome.error?.code === 'REAUTH_REQUIRED' ? '' : describeError(outcome.error, outcome.response))
  }

  return (
    <section aria-labelledby="sessions-title">
      <h2 id="sessions-title">Sessions</h2>
      <Notice>{notice}</Notice>
      <ErrorMessage>{error}</ErrorMessage>
      {prompt}
      {sessions && (
        <ul className="sessions">
          {sessions.map((session) => (
            <li key={session.id} aria-label={deviceOf(session.userAgent)}>
              <strong>{deviceOf(session.userAgent)}</strong>
              {session.current && <span className="badge"> This device</span>}
              <br />
              <small>
                Last seen {when(session.lastSeenAt)} from {session.ip} · signed in {when(session.createdAt)}
              </small>
              {!session.current && (
                <button type="button" onClick={() => void end(session)}>End session</button>
              )}
            </li>
          ))}
        </ul>
      )}
      {sessions && sessions.length > 1 && (
        <button type="button" onClick={() => void endOthers()}>Sign out everywhere else</button>
      )}
    </section>
  )
}
