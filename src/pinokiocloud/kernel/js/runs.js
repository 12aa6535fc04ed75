'use strict'
// The sidecar's part of a run (spec §4.1–4.2): the steps are resolved once when the run begins and
// kept for the whole run; before each step the script is loaded again (so `self` is fresh and a
// function export is called again) and the cached raw step is rendered with that step's memory.
// Inline `method` functions and `{uri, method}` custom modules are called here too (spec §3.14).
const fs = require('fs')
const path = require('path')
const { renderStep } = require('./template.js')
const { loadFile, ScriptError, toScriptError } = require('./loader.js')
const { makeInfo } = require('./facade.js')
const { toData } = require('./data.js')
const { context, stepScope } = require('./scope.js')

const runs = new Map() // run id -> {path, action, steps, rendered: Map(index -> rendered step)}
const modules = new Map() // absolute module path -> {mtimeMs, instance, runIds: Set}

async function loadScript (file, kernel, snap) {
  const info = makeInfo(snap, path.dirname(file))
  return (await loadFile(file, (fn) => fn(kernel, info))).value
}

async function resolveSteps (script, action, kernel, snap, file) {
  let steps = script && script[action]
  if (typeof steps === 'function') {
    try {
      steps = await steps(kernel, makeInfo(snap, path.dirname(file)), { env: snap.envs })
    } catch (e) {
      throw toScriptError(e, file)
    }
  }
  if (!Array.isArray(steps) || steps.length === 0) {
    throw new ScriptError('InvalidScript', `missing or invalid attribute: ${action}`, file)
  }
  return steps
}

async function prepare (params) {
  const file = path.resolve(params.path)
  const action = params.action || 'run'
  const { snap, kernel } = context(params)
  const script = await loadScript(file, kernel, snap)
  const steps = await resolveSteps(script, action, kernel, snap, file)
  const entry = { path: file, action, steps, rendered: new Map() }
  runs.set(params.run_id, entry)
  return { entry, script, ports: snap.handedPorts }
}

function describe (script, steps) {
  const on = script && script.on && typeof script.on === 'object' ? script.on : {}
  return {
    total: steps.length,
    ids: steps.map((s) => (s && typeof s === 'object' && typeof s.id === 'string' ? s.id : null)),
    daemon: Boolean(script && script.daemon),
    title: script && typeof script.title === 'string' ? script.title : null,
    on_stop: on.stop === undefined ? null : toData(on.stop),
    env: toData((script && (script.env || script.pre)) || null),
    requires: toData((script && script.requires) || null)
  }
}

// {run_id, path, action, context} → what the runner needs to know about the run's steps.
async function begin (params) {
  const { entry, script, ports } = await prepare(params)
  return { ...describe(script, entry.steps), ports }
}

// {run_id, path, action, index, vars, globals, context} → the rendered step and whether it runs.
async function step (params) {
  const prepared = runs.get(params.run_id) ? null : await prepare(params)
  const entry = prepared ? prepared.entry : runs.get(params.run_id)
  const { snap, kernel } = context(params)
  const self = await loadScript(entry.path, kernel, snap)
  const i = params.index
  const raw = entry.steps[i]
  if (raw === undefined || raw === null) {
    throw new ScriptError('BadStep', `step ${i} does not exist (the script has ${entry.steps.length})`, entry.path)
  }
  const total = entry.steps.length
  const vars = { dirname: path.dirname(entry.path), ...(params.vars || {}), current: i, next: i < total - 1 ? i + 1 : null }
  const scope = stepScope(snap, kernel, vars, params.globals, self)
  const { step: rendered, runs: willRun } = renderStep(raw, scope)
  entry.rendered.set(i, rendered)
  return {
    step: toData(rendered),
    runs: willRun,
    total,
    inline: Boolean(rendered && typeof rendered.method === 'function'),
    ports: [...(prepared ? prepared.ports : []), ...snap.handedPorts]
  }
}

function collector () {
  const events = []
  const ondata = (data, type) => {
    events.push({ type: type || 'stream', data: toData(data) })
  }
  return { events, ondata }
}

function answer (value, events) {
  return value === undefined ? { undefined: true, events } : { result: toData(value), events }
}

// {run_id, index, req, context} → call the inline `method` function of a rendered step.
async function call (params) {
  const entry = runs.get(params.run_id)
  const rendered = entry && entry.rendered.get(params.index)
  if (!rendered || typeof rendered.method !== 'function') {
    throw new ScriptError('BadStep', `step ${params.index} has no inline method to call`, entry ? entry.path : '')
  }
  const { kernel } = context(params)
  const { events, ondata } = collector()
  const req = { ...params.req, ...rendered, method: undefined }
  try {
    return answer(await rendered.method(req, ondata, kernel), events)
  } catch (e) {
    throw toScriptError(e, entry.path)
  }
}

// {run_id, uri (absolute), method, req, context} → call `method` of a custom module. The module is
// kept while its file is unchanged, so it can hold state between calls (spec §3.14).
async function moduleCall (params) {
  const file = path.resolve(params.uri)
  let stat
  try {
    stat = fs.statSync(file)
  } catch (e) {
    throw new ScriptError('NotFound', 'no such module file', file)
  }
  let cached = modules.get(file)
  if (!cached || cached.mtimeMs !== stat.mtimeMs) {
    const { value } = await loadFile(file, null)
    cached = { mtimeMs: stat.mtimeMs, instance: value, runIds: new Set() }
    modules.set(file, cached)
  }
  cached.runIds.add(params.run_id)
  const fn = cached.instance && cached.instance[params.method]
  if (typeof fn !== 'function') {
    throw new ScriptError('UnknownMethod', `${file} has no method ${JSON.stringify(params.method)}`, file)
  }
  const { kernel } = context(params)
  const { events, ondata } = collector()
  try {
    return answer(await fn.call(cached.instance, params.req, ondata, kernel), events)
  } catch (e) {
    throw toScriptError(e, file)
  }
}

// {run_id} → forget the run's steps and the custom modules it loaded.
async function end (params) {
  runs.delete(params.run_id)
  for (const [file, cached] of modules) {
    cached.runIds.delete(params.run_id)
    if (cached.runIds.size === 0) modules.delete(file)
  }
  return true
}

module.exports = { begin, step, call, moduleCall, end }
