import { useEffect } from 'react'
import { useMe } from '../session'
import { UserAdmin } from '../admin/UserAdmin'

/** Admins' page; anyone else is told plainly that it is not for them. */
export function UsersPage() {
  const { user } = useMe()
  useEffect(() => {
    document.title = 'Users'
  }, [])
  if (!user.roles.includes('admin')) {
    return (
      <>
        <h1>Users</h1>
        <p role="alert">Not allowed: this page is for administrators.</p>
      </>
    )
  }
  return <UserAdmin />
}
