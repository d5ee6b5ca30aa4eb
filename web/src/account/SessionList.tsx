import Bowser from 'bowser'
import { useCallback, useEffect, useState } from 'react'
import { api, type components } from '../api/client'
import { ErrorMessage, Notice } from '../components/Form'
import { useChange } from '../components/ReauthPrompt'

type Session = components['schemas']['Session']

/** "Chrome on Linux" from a User-Agent header; the header itself when it says nothing recognisable. */
export function deviceOf(userAgent: string): string {
  const { browser, os } = Bowser.parse(userAgent)
  if (!browser.name) return userAgent || 'Unknown device'
  return os.name ? `${browser.name} on ${os.name}` : browser.name
}

export const when = (iso: string) => new Date(iso).toLocaleString()

/** Every session of the user: this device, the others with "End session" each, and "Sign out everywhere else". */
export function SessionList() {
  const [sessions, setSessions] = useState<Session[] | null>(null)
  const { change, error, notice, prompt } = useChange()

  const load = useCallback(async () => {
    const { data } = await api.GET('/auth/sessions')
    if (data) setSessions(data.sessions)
  }, [])
  useEffect(() => void load(), [load])

  const end = (session: Session) =>
    change(() => api.DELETE('/auth/sessions/{id}', { params: { path: { id: session.id } } }), async () => {
      await load()
      return `Ended the session on ${deviceOf(session.userAgent)}.`
    })

  const endOthers = () =>
    change(() => api.DELETE('/auth/sessions'), async (data) => {
      await load()
      return `Signed out ${data?.revoked} other session${data?.revoked === 1 ? '' : 's'}.`
    })

  return (
    <section aria-labelledby="sessions-title">
      <h2 id="sessions-title">Sessions</h2>
      <Notice>{notice}</Notice>
      <ErrorMessage>{error}</ErrorMessage>
      {prompt}
      {sessions && (
        <ul className="sessions">
          {sessions.map((session) => (
            <li key={session.id}>
              <strong>{deviceOf(session.userAgent)}</strong>
              {session.current && <span className="badge"> This device</span>}
              <br />
              <small>Last seen {when(session.lastSeenAt)} from {session.ip} · signed in {when(session.createdAt)}</small>
              {!session.current && <button type="button" onClick={() => void end(session)}>End session</button>}
            </li>
          ))}
        </ul>
      )}
      {sessions && sessions.length > 1 && <button type="button" onClick={() => void endOthers()}>Sign out everywhere else</button>}
    </section>
  )
}
