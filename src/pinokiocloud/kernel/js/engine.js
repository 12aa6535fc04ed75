'use strict'
// The worker side of the sidecar: one handler per RPC method, all answering from a snapshot.
const fs = require('fs')
const path = require('path')
const { parentPort } = require('worker_threads')
const { render, renderStep } = require('./template.js')
const { loadFile, ScriptError, toScriptError } = require('./loader.js')
const { makeInfo } = require('./facade.js')
const { toData } = require('./data.js')
const { context, stepScope } = require('./scope.js')
const runs = require('./runs.js')

const LAUNCHER_META = ['pinokio_meta.json', 'pinokio.json']

async function load (params) {
  const file = path.resolve(params.path)
  const { snap, kernel } = context(params)
  const info = makeInfo(snap, path.dirname(file))
  const call = params.call === false ? null : (fn) => fn(kernel, info)
  const { kind, value } = await loadFile(file, call)
  return { kind, script: toData(value) }
}

function findLauncherRoot (dir) {
  if (fs.existsSync(path.join(dir, 'pinokio.js'))) return dir
  if (fs.existsSync(path.join(dir, 'pinokio', 'pinokio.js'))) return path.join(dir, 'pinokio')
  return dir
}

function keepMenu (meta) {
  if (meta && typeof meta === 'object' && meta.menu && !(Array.isArray(meta.menu) || typeof meta.menu === 'function')) {
    delete meta.menu
  }
  return meta
}

// pinokio.js merged with pinokio_meta.json and pinokio.json (later wins), menu evaluated (spec §1.2, §1.6).
async function launcher (params) {
  const dir = path.resolve(params.dir)
  const root = findLauncherRoot(dir)
  const { snap, kernel } = context(params)
  const info = makeInfo(snap, root)
  const files = []
  const parts = []
  const main = path.join(root, 'pinokio.js')
  if (fs.existsSync(main)) {
    const { value } = await loadFile(main, (fn) => fn(kernel, info))
    files.push(main)
    parts.push(keepMenu(value && typeof value === 'object' ? { ...value } : {}))
  }
  for (const name of LAUNCHER_META) {
    const file = path.join(root, name)
    if (!fs.existsSync(file)) continue
    const { value } = await loadFile(file, null)
    files.push(file)
    parts.push(keepMenu(value && typeof value === 'object' && !Array.isArray(value) ? { ...value } : {}))
  }
  if (files.length === 0) throw new ScriptError('NotLauncher', 'no pinokio.js, pinokio.json or pinokio_meta.json', dir)
  const meta = Object.assign({}, ...parts)
  let menu = null
  if (typeof meta.menu === 'function') {
    try {
      menu = await meta.menu(kernel, info)
    } catch (e) {
      throw toScriptError(e, main)
    }
  } else if (Array.isArray(meta.menu)) {
    menu = meta.menu
  }
  delete meta.menu
  return { root, files, meta: toData(meta), menu: menu == null ? null : toData(menu) }
}

async function renderTemplate (params) {
  const { snap, kernel } = context(params)
  const scope = stepScope(snap, kernel, params.vars, params.globals)
  const many = params.templates || [params.template]
  const results = many.map((t) => (params.step ? renderStep(t, scope) : { value: render(t, scope, Boolean(params.allow_undefined)) }))
  // `undefined` (possible with allow_undefined) has no JSON form, so it is flagged instead.
  const data = results.map((r) => (params.step ? { step: toData(r.step), runs: r.runs }
    : r.value === undefined ? { undefined: true } : { value: toData(r.value) }))
  return params.templates ? data : data[0]
}

function stepsOf (script, action) {
  const steps = script && script[action]
  return Array.isArray(steps) ? steps : null
}

// Load a script and render the chosen steps of one action, as the runner would see them before
// each step runs (with `self` = the script object, `current`/`next` per step).
async function renderScript (params) {
  const file = path.resolve(params.path)
  const { snap, kernel } = context(params)
  const info = makeInfo(snap, path.dirname(file))
  const { value: script } = await loadFile(file, (fn) => fn(kernel, info))
  const action = params.action || 'run'
  let steps = stepsOf(script, action)
  if (!steps && script && typeof script[action] === 'function') {
    try {
      steps = await script[action](kernel, info, {})
    } catch (e) {
      throw toScriptError(e, file)
    }
  }
  if (!Array.isArray(steps)) throw new ScriptError('InvalidScript', `missing or invalid attribute: ${action}`, file)
  const indices = params.steps || steps.map((_, i) => i)
  const out = []
  for (const i of indices) {
    if (i < 0 || i >= steps.length) throw new ScriptError('BadStep', `step ${i} does not exist (the script has ${steps.length})`, file)
    const vars = { dirname: path.dirname(file), ...(params.vars || {}), current: i, next: i < steps.length - 1 ? i + 1 : null }
    const scope = stepScope(snap, kernel, vars, params.globals, script)
    const { step, runs } = renderStep(steps[i], scope)
    out.push({ index: i, step: toData(step), runs })
  }
  return { path: file, action, total: steps.length, steps: out }
}

const METHODS = {
  load,
  launcher,
  render: renderTemplate,
  render_script: renderScript,
  run_begin: runs.begin,
  run_step: runs.step,
  run_call: runs.call,
  module_call: runs.moduleCall,
  run_end: runs.end
}

function errorData (e) {
  const err = e instanceof ScriptError ? e : toScriptError(e, '')
  return { type: err.type, message: err.message, file: err.file || null, line: err.line || null, column: err.column || null }
}

function serve () {
  // A launcher that prints must not disturb the RPC stream: stdout of this thread goes to stderr
  // (the router pipes it there). Stray async failures in launcher code are logged, not fatal.
  process.on('unhandledRejection', (e) => console.error('[sidecar] unhandled rejection in script code:', e))
  parentPort.on('message', async (msg) => {
    let line
    try {
      const method = METHODS[msg.method]
      if (!method) throw new ScriptError('UnknownMethod', `unknown sidecar method ${msg.method}`, '')
      const result = await method(msg.params || {})
      line = JSON.stringify({ id: msg.id, result })
    } catch (e) {
      line = JSON.stringify({ id: msg.id, error: errorData(e) })
    }
    parentPort.postMessage({ id: msg.id, line })
  })
}

module.exports = { serve }
