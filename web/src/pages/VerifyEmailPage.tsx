import { useEffect, useState } from 'react'
import { Link } from 'react-router'
import { WEB_APP_PAGES as PAGES } from '../../../src/lib/web-pages'
import { api, describeError } from '../api/client'
import { ErrorMessage, Notice } from '../components/Form'
import { useMailedToken } from './mailed-token'

/**
 * The page a verification mail links to. The address is confirmed by a click, not by opening the page: mail scanners
 * that open links must not confirm an address on the owner's behalf.
 */
export function VerifyEmailPage() {
  const token = useMailedToken()
  const [done, setDone] = useState<string | null>(null)
  const [error, setError] = useState('')
  useEffect(() => {
    document.title = 'Confirm your email address'
  }, [])

  async function confirm() {
    const { data, error, response } = await api.POST('/auth/email/verify', { body: { token: token ?? '' } })
    setError(error?.code === 'INVALID_TOKEN' ? 'This link has expired or was already used. Ask for a new one from your account page.' : describeError(error, response))
    if (data) setDone(data.email)
  }

  return (
    <main className="narrow">
      <h1>Confirm your email address</h1>
      {done ? (
        <>
          <Notice>{done} is confirmed.</Notice>
          <p><Link to={PAGES.home}>Continue</Link></p>
        </>
      ) : token ? (
        <>
          <ErrorMessage>{error}</ErrorMessage>
          <button type="button" onClick={() => void confirm()}>Confirm my email address</button>
        </>
      ) : (
        <ErrorMessage>This page needs the link from the mail we sent you.</ErrorMessage>
      )}
    </main>
  )
}
