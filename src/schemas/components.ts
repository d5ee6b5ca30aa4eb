import { Type, type Static, type TSchema, type TString } from '@sinclair/typebox'

/**
 * A schema with a name: the app registers it once (app.addSchema) and routes refer to it by `ref`, so the OpenAPI
 * document lists it under components.schemas and a generated client gets one type for it, not a copy per route.
 */
export type Named<T extends TSchema = TSchema> = T & { $id: string }

export function named<T extends TSchema>(name: string, schema: T): Named<T> {
  return { ...schema, $id: name }
}

/** A reference to a named schema, typed as the schema itself. Never embed a named schema directly: ids must be unique. */
export function ref<T extends TSchema>(schema: Named<T>) {
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id))
}

/**
 * `schema` with a description of its own: a field that says more where it is used than its shared definition does.
 * Typed as the schema itself, so that the declarations the package ships can name it.
 */
export function described<T extends TSchema>(schema: T, description: string): T {
  return { ...schema, description }
}

/** A route's answer: its schema and what it means (the response's description in the OpenAPI document). */
export function answer<T extends TSchema>(description: string, schema: T): T {
  return described(schema, description)
}

/**
 * A string or null, as one JSON Schema type (`type: ['string', 'null']`): where TypeBox's union of the two gives
 * `anyOf`, which the serializer can only resolve by validating the value against each branch on every answer.
 */
export function nullable<T extends TString>(schema: T) {
  return Type.Unsafe<Static<T> | null>({ ...schema, type: ['string', 'null'] })
}

/** One of some strings, as one `enum` (not an `anyOf` of constants: see nullable). */
export function oneOfStrings<const T extends readonly string[]>(values: T, options: { description?: string } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options })
}
