import { useCallback, useEffect, useState, type FormEvent } from 'react'
import { api, type components } from '../api/client'
import { ErrorMessage, Field, Notice } from '../components/Form'
import { useChange } from '../components/ReauthPrompt'
import { when } from './SessionList'

type AccessToken = components['schemas']['AccessToken']
type Scope = AccessToken['scopes'][number]

/** Personal access tokens for scripts: created with scopes and an expiry, the secret shown once, revoked. */
export function TokensSection() {
  const [tokens, setTokens] = useState<AccessToken[] | null>(null)
  const [secret, setSecret] = useState<string | null>(null)
  const { change, error, notice, prompt } = useChange()

  const load = useCallback(async () => {
    const { data } = await api.GET('/auth/tokens')
    if (data) setTokens(data.tokens)
  }, [])
  useEffect(() => void load(), [load])

  function create(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const formElement = event.currentTarget
    const form = new FormData(formElement)
    const scopes = form.getAll('scope').map(String) as Scope[]
    const body = { name: String(form.get('name')), scopes, expiresInDays: Number(form.get('expiresInDays')) }
    void change(() => api.POST('/auth/tokens', { body }), async (data) => {
      setSecret(data?.token ?? null)
      formElement.reset()
      await load()
      return `Token “${body.name}” created.`
    })
  }

  const revoke = (token: AccessToken) =>
    change(() => api.DELETE('/auth/tokens/{id}', { params: { path: { id: token.id } } }), async () => {
      setSecret(null)
      await load()
      return `Token “${token.name}” revoked.`
    })

  return (
    <section aria-labelledby="tokens-title">
      <h2 id="tokens-title">Access tokens</h2>
      <Notice>{notice}</Notice>
      <ErrorMessage>{error}</ErrorMessage>
      {prompt}
      {secret && (
        <p>
          Copy the token now: it is not shown again. <code aria-label="New token">{secret}</code>
        </p>
      )}
      {tokens && tokens.length > 0 && (
        <ul className="sessions">
          {tokens.map((token) => (
            <li key={token.id}>
              <strong>{token.name}</strong> ({token.scopes.join(', ')}) <br />
              <small>Expires {when(token.expiresAt)} · last used {token.lastUsedAt ? when(token.lastUsedAt) : 'never'}</small>
              <button type="button" aria-label={`Revoke ${token.name}`} onClick={() => void revoke(token)}>Revoke</button>
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={create}>
        <Field label="Token name" name="name" required maxLength={64} />
        <fieldset>
          <legend>Scopes</legend>
          <div className="check"><input id="scope-read" type="checkbox" name="scope" value="read" defaultChecked /><label htmlFor="scope-read">Read</label></div>
          <div className="check"><input id="scope-write" type="checkbox" name="scope" value="write" /><label htmlFor="scope-write">Write</label></div>
        </fieldset>
        <Field label="Expires in (days)" name="expiresInDays" type="number" min={1} max={365} defaultValue={30} required />
        <button type="submit">Create token</button>
      </form>
    </section>
  )
}
