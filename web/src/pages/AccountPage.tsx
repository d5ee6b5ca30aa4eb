import { useEffect } from 'react'
import { ActivitySection } from '../account/ActivitySection'
import { DeleteAccountSection } from '../account/DeleteAccountSection'
import { EmailSection } from '../account/EmailSection'
import { PasswordSection } from '../account/PasswordSection'
import { SessionList } from '../account/SessionList'
import { TokensSection } from '../account/TokensSection'
import { TwoFactorSection } from '../account/TwoFactorSection'

/** The user's own account: one section per thing they manage. */
export function AccountPage() {
  useEffect(() => {
    document.title = 'Your account'
  }, [])
  return (
    <>
      <h1>Your account</h1>
      <SessionList />
      <ActivitySection />
      <PasswordSection />
      <TwoFactorSection />
      <TokensSection />
      <EmailSection />
      <DeleteAccountSection />
    </>
  )
}
