import { useCallback, useEffect, useState, type FormEvent } from 'react'
import { api, type components } from '../api/client'
import { ErrorMessage, Field, Notice } from '../components/Form'
import { useChange, type Outcome } from '../components/ReauthPrompt'

type Account = components['schemas']['Account']

const PAGE_SIZE = 20

/** The user list for admins: search by name prefix, pages, and one user managed at a time. */
export function UserAdmin() {
  const [search, setSearch] = useState('')
  // The cursors of the pages seen so far: the first page has none.
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined])
  const [page, setPage] = useState<{ users: Account[]; nextCursor: string | null } | null>(null)
  const [selected, setSelected] = useState<string | null>(null)

  const cursor = cursors[cursors.length - 1]
  const load = useCallback(async () => {
    const { data } = await api.GET('/admin/users', { params: { query: { limit: String(PAGE_SIZE), ...(search && { search }), ...(cursor && { cursor }) } } })
    if (data) setPage(data)
  }, [search, cursor])
  useEffect(() => void load(), [load])

  function find(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    setSearch(String(new FormData(event.currentTarget).get('search')).trim())
    setCursors([undefined])
  }

  return (
    <>
      <h1>Users</h1>
      <form role="search" onSubmit={find} className="inline">
        <Field label="Search users" name="search" type="search" placeholder="Name starts with…" />
        <button type="submit">Search</button>
      </form>
      {page && (
        <table>
          <caption>Users{search && ` whose name starts with “${search}”`}</caption>
          <thead>
            <tr><th scope="col">Username</th><th scope="col">Roles</th><th scope="col">State</th><th scope="col">Last sign-in</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr>
          </thead>
          <tbody>
            {page.users.map((account) => (
              <tr key={account.id}>
                <th scope="row">{account.username}</th>
                <td>{account.roles.join(', ')}</td>
                <td>{account.state === 'disabled' ? `Disabled${account.disabled?.reason ? `: ${account.disabled.reason}` : ''}` : 'Active'}</td>
                <td>{account.lastLoginAt ? new Date(account.lastLoginAt).toLocaleString() : 'Never'}</td>
                <td><button type="button" aria-label={`Manage ${account.username}`} onClick={() => setSelected(account.username)}>Manage</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav aria-label="Pages" className="inline">
        <button type="button" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>Previous page</button>
        <button type="button" disabled={!page?.nextCursor} onClick={() => page?.nextCursor && setCursors([...cursors, page.nextCursor])}>Next page</button>
      </nav>
      {selected && <ManageUser key={selected} username={selected} onChanged={load} onClose={() => setSelected(null)} />}
    </>
  )
}

/** One user: disable or enable (with a reason), roles, end every session, delete. Each needs a fresh sign-in. */
function ManageUser({ username, onChanged, onClose }: { username: string; onChanged: () => Promise<void>; onClose: () => void }) {
  const [account, setAccount] = useState<Account | null>(null)
  const { change, error, notice, prompt } = useChange()
  const path = { params: { path: { username } } }

  const load = useCallback(async () => {
    const { data } = await api.GET('/admin/users/{username}', { params: { path: { username } } })
    if (data) setAccount(data)
  }, [username])
  useEffect(() => void load(), [load])

  const act = (action: () => Promise<Outcome>, done: string) =>
    change(action, async () => {
      await Promise.all([load(), onChanged()])
      return done
    })

  function disable(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const reason = String(new FormData(event.currentTarget).get('reason')).trim()
    void act(() => api.PATCH('/admin/users/{username}', { ...path, body: { disabled: true, ...(reason && { reason }) } }), `${username} is disabled and signed out everywhere.`)
  }

  function saveRoles(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const roles = String(new FormData(event.currentTarget).get('roles')).split(',').map((role) => role.trim()).filter(Boolean)
    void act(() => api.PATCH('/admin/users/{username}', { ...path, body: { roles } }), `${username}'s roles are saved.`)
  }

  async function remove() {
    if (!window.confirm(`Delete ${username} and everything stored for them? This cannot be undone.`)) return
    if (await change(() => api.DELETE('/admin/users/{username}', path), () => `${username} is deleted.`)) {
      await onChanged()
      onClose()
    }
  }

  if (!account) return null
  return (
    <section aria-labelledby="manage-title" className="panel">
      <h2 id="manage-title">Manage {username}</h2>
      <Notice>{notice}</Notice>
      <ErrorMessage>{error}</ErrorMessage>
      {prompt}
      {account.state === 'active' ? (
        <form onSubmit={disable} className="inline">
          <Field label="Reason" name="reason" maxLength={200} />
          <button type="submit">Disable user</button>
        </form>
      ) : (
        <button type="button" onClick={() => void act(() => api.PATCH('/admin/users/{username}', { ...path, body: { disabled: false } }), `${username} is enabled.`)}>
          Enable user
        </button>
      )}
      <form onSubmit={saveRoles} className="inline">
        <Field label="Roles" name="roles" defaultValue={account.roles.join(', ')} hint="Comma-separated, such as: user, admin" />
        <button type="submit">Save roles</button>
      </form>
      <button type="button" onClick={() => void act(() => api.DELETE('/admin/users/{username}/sessions', { params: { path: { username }, query: {} } }), `Every session of ${username} is ended.`)}>
        End all sessions
      </button>
      <button type="button" className="danger" onClick={() => void remove()}>Delete user</button>
      <button type="button" onClick={onClose}>Close</button>
    </section>
  )
}
