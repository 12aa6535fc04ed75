'use strict'
// Launcher values → JSON-safe data for the trip to Python: functions become "[function]",
// `undefined` object entries disappear (array items become null, as in JSON), cycles are marked.

function toData (value, ancestors = []) {
  if (value === undefined) return undefined
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value
  if (typeof value === 'number') return Number.isFinite(value) ? value : null
  if (typeof value === 'bigint') return value.toString()
  if (typeof value === 'function') return '[function]'
  if (typeof value === 'symbol') return undefined
  if (ancestors.includes(value)) return '[circular]'
  if (Buffer.isBuffer(value)) return value.toJSON()
  if (value instanceof RegExp) return String(value)
  if (typeof value.toJSON === 'function') return toData(value.toJSON(), ancestors)
  const next = ancestors.concat([value])
  if (Array.isArray(value)) return value.map((item) => { const d = toData(item, next); return d === undefined ? null : d })
  const out = {}
  for (const key of Object.keys(value)) {
    const d = toData(value[key], next)
    if (d !== undefined) out[key] = d
  }
  return out
}

module.exports = { toData }
