import { Type } from '@sinclair/typebox'

export const DashboardResponse = Type.Object({ message: Type.String() }, { additionalProperties: false })
export const CountResponse = Type.Object({ views: Type.Integer({ minimum: 1 }) }, { additionalProperties: false })
