import { Signer } from '@fastify/cookie'
import { LRUCache } from 'lru-cache'

type UnsignResult = ReturnType<Signer['unsign']>

/**
 * A cookie signer that remembers its recent answers: every request would otherwise pay two HMACs, one to verify the
 * cookie and one when @fastify/session signs the restored ID again. Only valid signatures are remembered, so forged
 * cookies always pay the full check and cannot fill the cache.
 */
export function memoizedSigner(secrets: string[], maxEntries: number): Pick<Signer, 'sign' | 'unsign'> {
  const signer = new Signer(secrets)
  const signed = new LRUCache<string, string>({ max: maxEntries })
  const verified = new LRUCache<string, UnsignResult>({ max: maxEntries })
  return {
    sign(value) {
      let signature = signed.get(value)
      if (signature === undefined) {
        signature = signer.sign(value)
        signed.set(value, signature)
      }
      return signature
    },
    unsign(input) {
      const known = verified.get(input)
      if (known) return known
      const result = signer.unsign(input)
      if (result.valid) verified.set(input, result)
      return result
    },
  }
}
