import { useEffect } from 'react'
import { PasswordSection } from '../account/PasswordSection'
import { SessionList } from '../account/SessionList'

/** The user's own account: one section per thing they manage. */
export function AccountPage() {
  useEffect(() => {
    document.title = 'Your account'
  }, [])
  return (
    <>
      <h1>Your account</h1>
      <SessionList />
      <PasswordSection />
    </>
  )
}
