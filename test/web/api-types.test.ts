import { readFile } from 'node:fs/promises'
import t from 'tap'
import { WEB_API_TYPES, webApiTypes } from '../../scripts/web-api-types.js'
import { build } from '../support/helper.js'

t.test("the web app's API types are those of the document the service serves", async (t) => {
  // As a deployment serves it: with load shedding on, so that every route lists 503 OVERLOADED (the helper turns it off).
  const app = await build(t, { DOCS_ENABLED: 'true', MAX_EVENT_LOOP_DELAY_MS: '1000' })
  const served = await webApiTypes(app.swagger())
  const committed = await readFile(WEB_API_TYPES, 'utf8')
  // A route or a field changed: regenerate, and let `tsc -p web` show what the app must follow.
  t.ok(served === committed, 'web/src/api/openapi.d.ts is up to date (else: npm run web:api-types)')
})
