'use strict'
// `{{ }}` template rendering with the rules of the Pinokio script API (spec §2).
//
// Every `{{expr}}` is a JavaScript expression evaluated as `new Function(...names, "return " + expr)`
// over the memory names, exactly as the original engine does. Compiled functions are cached by
// (names, expression), so rendering the same step again costs one call per expression.
//
// Deliberate deviation (docs/compat.md, spec §2.6): a string that starts with `{{` and ends with `}}`
// but holds several blocks ("{{a}}/{{b}}") is interpolated, and a single block that is not valid
// JavaScript leaves only that string as it is. The original throws there and leaves the whole
// enclosing object unrendered.
const path = require('path')
const os = require('os')

// `_` is lodash, loaded on first use: most templates never touch it, and it costs the sidecar
// several MB. When lodash is not installed, `_` is undefined.
const lodash = lazyLodash()

function lazyLodash () {
  try {
    require.resolve('lodash')
  } catch (e) {
    return undefined
  }
  let real
  const load = () => (real = real || require('lodash'))
  return new Proxy(function lodashStub () {}, {
    get: (target, key) => load()[key],
    has: (target, key) => key in load(),
    apply: (target, self, args) => load()(...args),
    ownKeys: () => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (target, key) => {
      const d = Reflect.getOwnPropertyDescriptor(load(), key)
      return d && key !== 'prototype' && key !== 'length' && key !== 'name' ? { ...d, configurable: true } : Reflect.getOwnPropertyDescriptor(target, key)
    }
  })
}

const MAX_CACHE = 50000
const cache = new Map()
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/
const PURE = /^\{\{.+\}\}$/
const ESCAPED = /^\{\{\{(.+)\}\}\}$/
const BLOCK = /{{(.*?)}}/g
const ANY_TEMPLATE = /\{\{.*\}\}/
const TRIPLE = /\{\{\{(.*?)\}\}\}/g

// A scope is the list of names an expression can see and their values, built once per render.
// Later layers win on a clash: memory over `_`/`os`/`path`, global values over memory (spec §2.1).
function createScope (...layers) {
  const merged = { _: lodash, os, path }
  for (const layer of layers) {
    if (!layer) continue
    for (const key of Object.keys(layer)) merged[key] = layer[key]
  }
  const names = Object.keys(merged).filter((n) => IDENTIFIER.test(n))
  return { names, values: names.map((n) => merged[n]), signature: names.join(','), vars: merged }
}

function compile (scope, expr) {
  const key = scope.signature + '\u0001' + expr
  let entry = cache.get(key)
  if (entry === undefined) {
    try {
      entry = { fn: new Function(...scope.names, 'return ' + expr) } // eslint-disable-line no-new-func
    } catch (error) {
      entry = { error }
    }
    if (cache.size >= MAX_CACHE) cache.clear()
    cache.set(key, entry)
  }
  if (entry.error) throw entry.error
  return entry.fn
}

// One expression: the raw value; the literal `{{expr}}` when it throws or gives undefined
// (unless allowUndefined, used by `when`). A syntax error is thrown to the caller.
function evaluate (expr, scope, allowUndefined) {
  const fn = compile(scope, expr)
  let value
  try {
    value = fn.apply(undefined, scope.values)
  } catch (e) {
    return '{{' + expr + '}}'
  }
  if (value === undefined && !allowUndefined) return '{{' + expr + '}}'
  return value
}

function compiles (scope, expr) {
  try {
    compile(scope, expr)
    return true
  } catch (e) {
    return false
  }
}

function interpolate (template, scope) {
  const exprs = [...template.matchAll(BLOCK)].map((m) => m[1])
  if (exprs.length === 0) return template
  try {
    const pieces = exprs.map((expr) => ({ key: '{{' + expr + '}}', value: evaluate(expr, scope, false) }))
    let out = template
    // replaceAll with the raw value, as the original does: String(value), `$` patterns, and a
    // function value used as the replacer are all part of the observable behaviour.
    for (const piece of pieces) out = out.replaceAll(piece.key, piece.value)
    return out
  } catch (e) {
    return template // any syntax error leaves the whole string as it is (spec §2.2)
  }
}

function renderString (template, scope, allowUndefined) {
  if (ESCAPED.test(template)) return template
  if (PURE.test(template)) {
    const inner = template.slice(2, -2)
    if (compiles(scope, inner)) return evaluate(inner, scope, allowUndefined)
    const blocks = template.match(BLOCK)
    return blocks && blocks.length > 1 ? interpolate(template, scope) : template
  }
  return interpolate(template, scope)
}

function render (template, scope, allowUndefined = false) {
  if (typeof template === 'string') return renderString(template, scope, allowUndefined)
  if (Array.isArray(template)) {
    const out = []
    for (const item of template) {
      const value = render(item, scope)
      if (value !== undefined) out.push(value)
    }
    return out
  }
  if (isPlainObject(template)) {
    const out = {}
    for (const key in template) {
      const renderedKey = render(key, scope)
      const value = render(template[key], scope)
      if (renderedKey !== null && renderedKey !== false) out[renderedKey] = value
    }
    return out
  }
  return template
}

function isPlainObject (value) {
  if (!value || typeof value !== 'object') return false
  try {
    return value.constructor.name === 'Object'
  } catch (e) {
    return false
  }
}

// Does a (rendered) object still hold a template in a key or a string value? Strings directly
// inside arrays are not looked at, as in the original (so they are not rendered again).
function hasTemplate (value) {
  if (typeof value !== 'object' || value === null) return false
  if (Array.isArray(value)) return value.some(hasTemplate)
  for (const [key, val] of Object.entries(value)) {
    if (ANY_TEMPLATE.test(key) || (typeof val === 'string' && ANY_TEMPLATE.test(val))) return true
    if (hasTemplate(val)) return true
  }
  return false
}

// Turn every `{{{x}}}` into `{{x}}` once all passes are done.
function flatten (value) {
  if (typeof value === 'string') return value.replaceAll(TRIPLE, '{{$1}}')
  if (Array.isArray(value)) return value.map(flatten)
  if (isPlainObject(value)) {
    const out = {}
    for (const key in value) out[flatten(key)] = flatten(value[key])
    return out
  }
  return value
}

const MAX_PASSES = 4

// A whole step as the runner sees it (spec §2.3–2.4): up to four passes, flatten, then `when`
// rendered once more with undefined treated as falsy. Returns the rendered step and whether it runs.
function renderStep (step, scope) {
  let rendered = step
  for (let pass = 1; ; pass++) {
    rendered = render(rendered, scope)
    if (!hasTemplate(rendered) || pass >= MAX_PASSES) break
  }
  rendered = flatten(rendered)
  let runs = true
  if (rendered && typeof rendered === 'object' && Object.prototype.hasOwnProperty.call(rendered, 'when')) {
    runs = rendered.when ? Boolean(render(rendered.when, scope, true)) : false
  }
  return { step: rendered, runs }
}

// `/pattern/flags` → RegExp with `g` always on, splitting at the first and the last slash.
function toRegExp (text) {
  const m = /^\/(.+)\/([dgimsuy]*)$/s.exec(text)
  if (!m) throw new Error(`event ${JSON.stringify(text)} is not a "/pattern/flags" string`)
  return new RegExp(m[1], m[2].includes('g') ? m[2] : m[2] + 'g')
}

module.exports = { createScope, render, renderStep, hasTemplate, flatten, toRegExp, hasLodash: () => lodash !== undefined }
