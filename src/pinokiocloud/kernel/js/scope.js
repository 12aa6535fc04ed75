'use strict'
// The names a step template can see (spec §2.5), built from Python's per-step values and the snapshot.
const fs = require('fs')
const path = require('path')
const { createScope } = require('./template.js')
const { loadFile } = require('./loader.js')
const { Snapshot, makeKernel, which } = require('./facade.js')

function pipTorch (sys) {
  const base = 'pip3 install torch torchvision torchaudio'
  const vendors = (sys.gpus || []).map((g) => String(g.name || '').toLowerCase())
  const amd = vendors.includes('amd') || vendors.includes('advanced micro devices')
  if (sys.platform === 'linux') {
    if (vendors.includes('nvidia')) return base + ' --index-url https://download.pytorch.org/whl/cu118'
    if (amd) return base + ' --index-url https://download.pytorch.org/whl/rocm5.6'
    return base + ' --index-url https://download.pytorch.org/whl/cpu'
  }
  if (sys.platform === 'win32' && vendors.includes('nvidia')) return base + ' --index-url https://download.pytorch.org/whl/cu118'
  return base
}

// Build the scope for one step. `vars` holds the per-step memory values computed by Python
// (input, args, local, global, cwd, dirname, name, uri, current, next, port); `globals` overrides
// global template values (e.g. `--var platform=win32` from the CLI).
function stepScope (snap, kernel, vars, globals, self) {
  vars = vars || {}
  const cwd = vars.cwd || vars.dirname || snap.home
  const memory = {
    script: kernel.script,
    input: vars.input === undefined ? {} : vars.input,
    args: vars.args === undefined ? {} : vars.args,
    global: vars.global || {},
    local: vars.local || {},
    key: snap.key,
    current: vars.current === undefined ? 0 : vars.current,
    uri: vars.uri,
    cwd,
    dirname: vars.dirname || cwd,
    exists: (...p) => fs.existsSync(path.resolve(cwd, ...p)),
    running: (...p) => snap.isRunning(path.resolve(cwd, ...p)),
    ready: (...p) => snap.isReady(path.resolve(cwd, ...p)),
    name: vars.name,
    self: self === undefined ? vars.self : self,
    port: vars.port,
    pip: { install: { torch: pipTorch(snap.sys) } },
    next: vars.next === undefined ? null : vars.next
  }
  for (const [k, v] of Object.entries(vars)) if (!(k in memory)) memory[k] = v
  const globalVals = {
    kernel,
    platform: snap.sys.platform,
    arch: snap.sys.arch,
    gpu: snap.sys.gpu,
    gpu_model: snap.sys.gpu_model,
    gpu_driver: snap.sys.gpu_driver === undefined ? null : snap.sys.gpu_driver,
    gpu_target: snap.sys.gpu_target === undefined ? null : snap.sys.gpu_target,
    gpus: snap.sys.gpus || [],
    vram: snap.sys.vram || 0,
    ram: snap.sys.ram || 0,
    env: snap.envs,
    envs: snap.envs,
    which: (name) => which(name, snap.envs),
    proxy: (port) => `http://localhost:${port}`,
    ...(globals || {})
  }
  return createScope(memory, globalVals)
}

// The snapshot and `kernel` facade for one call.
function context (params) {
  const snap = new Snapshot(params.context)
  let kernel
  const loader = async (file) => (await loadFile(file, (fn) => fn(kernel))).value
  kernel = makeKernel(snap, loader)
  return { snap, kernel }
}

module.exports = { stepScope, context }
