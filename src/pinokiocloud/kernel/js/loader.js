'use strict'
// Loading script and launcher files with real Node `require` (spec §1.3), fresh on every load.
const fs = require('fs')
const path = require('path')
const { pathToFileURL } = require('url')

let importCounter = 0

class ScriptError extends Error {
  constructor (type, message, file, line, column) {
    super(message)
    this.type = type
    this.file = file
    this.line = line
    this.column = column
  }
}

// Forget every launcher module (not packages under node_modules) so the next require re-reads it.
function clearLauncherModules () {
  for (const key of Object.keys(require.cache)) {
    if (!key.includes(`${path.sep}node_modules${path.sep}`)) delete require.cache[key]
  }
}

function readJson (file) {
  let text = fs.readFileSync(file, 'utf8')
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  try {
    return JSON.parse(text)
  } catch (e) {
    const where = jsonErrorPosition(e.message, text)
    throw new ScriptError('SyntaxError', e.message.split('\n')[0], file, where.line, where.column)
  }
}

function jsonErrorPosition (message, text) {
  const lc = /line (\d+) column (\d+)/.exec(message)
  if (lc) return { line: Number(lc[1]), column: Number(lc[2]) }
  const pos = /position (\d+)/.exec(message)
  if (!pos) return {}
  const before = text.slice(0, Number(pos[1]))
  const lines = before.split('\n')
  return { line: lines.length, column: lines[lines.length - 1].length + 1 }
}

async function requireFresh (file) {
  clearLauncherModules()
  let exported = require(file)
  const isEsm = exported && typeof exported === 'object' && exported[Symbol.toStringTag] === 'Module'
  if (isEsm) {
    // ESM modules loaded by require() are cached for good; import with a new URL to see edits.
    importCounter += 1
    exported = await import(pathToFileURL(file).href + '?pinokiocloud=' + importCounter)
  }
  if (
    exported && typeof exported === 'object' && Object.prototype.hasOwnProperty.call(exported, 'default') &&
    (exported.__esModule === true || exported[Symbol.toStringTag] === 'Module')
  ) {
    return { value: exported.default, esm: true }
  }
  return { value: exported, esm: false }
}

function isClass (value) {
  return typeof value === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(value))
}

// Load one file. `call(fn)` is applied to function exports (scripts built by `async (kernel) => {...}`).
// Returns {kind, value} where kind is json | object | function | class | esm-object | esm-function.
async function loadFile (file, call) {
  if (!fs.existsSync(file)) throw new ScriptError('NotFound', 'no such file', file)
  if (/\.json$/i.test(file)) return { kind: 'json', value: readJson(file) }
  let loaded
  try {
    loaded = await requireFresh(file)
  } catch (e) {
    throw toScriptError(e, file)
  }
  let value = loaded.value
  let kind = loaded.esm ? 'esm-object' : 'object'
  if (isClass(value)) {
    try {
      value = new value() // eslint-disable-line new-cap
    } catch (e) {
      throw toScriptError(e, file)
    }
    kind = 'class'
  } else if (typeof value === 'function') {
    kind = loaded.esm ? 'esm-function' : 'function'
    if (call) {
      try {
        value = await call(value)
      } catch (e) {
        throw toScriptError(e, file)
      }
    }
  }
  return { kind, value }
}

// Turn whatever the script threw into a ScriptError naming the file and, where Node tells us, the
// line and column in the launcher's own code.
function toScriptError (e, file) {
  if (e instanceof ScriptError) return e
  if (!(e instanceof Error)) return new ScriptError('Error', `threw ${safeString(e)}`, file)
  const stack = String(e.stack || '')
  const type = e.name || 'Error'
  let message = String(e.message || '').split('\n')[0]
  if (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND') {
    const requiredFrom = /Require stack:\n- (.+)/.exec(String(e.message))
    const frame = firstUserFrame(stack, file)
    const where = frame || { file: requiredFrom ? requiredFrom[1] : file }
    return new ScriptError('ModuleNotFound', message, where.file, where.line, where.column)
  }
  if (e instanceof SyntaxError) {
    // Node prints "<file>:<line>\n<source line>\n   ^^^\n" at the top of a compile error's stack.
    const head = /^(\/[^\n]+?):(\d+)\n([^\n]*)\n(\s*)\^/.exec(stack)
    if (head) return new ScriptError('SyntaxError', message, head[1], Number(head[2]), head[4].length + 1)
  }
  const frame = firstUserFrame(stack, file)
  if (frame) return new ScriptError(type, message, frame.file, frame.line, frame.column)
  if (!message) message = safeString(e)
  return new ScriptError(type, message, file)
}

function firstUserFrame (stack, file) {
  const dir = path.dirname(file)
  const frames = [...stack.matchAll(/\(?((?:\/|file:\/\/)[^():\s]+):(\d+):(\d+)\)?/g)]
  for (const [, f, line, column] of frames) {
    const name = f.startsWith('file://') ? decodeURIComponent(f.slice(7)) : f
    if (name.startsWith(dir) && !name.includes(`${path.sep}node_modules${path.sep}`)) {
      return { file: name, line: Number(line), column: Number(column) }
    }
  }
  return null
}

function safeString (value) {
  try {
    return String(value)
  } catch (e) {
    return '(a value that cannot be printed)'
  }
}

module.exports = { loadFile, ScriptError, toScriptError }
