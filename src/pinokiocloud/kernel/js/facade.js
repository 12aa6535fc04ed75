'use strict'
// The `kernel` and `info` objects that launcher code sees (spec §1.7, §2.5).
//
// Facts that live in Python (running scripts, local/global memory, GPU, env) arrive as a snapshot
// with every call; the facade answers from it. File checks, `which` and free ports are answered
// here directly, since they are facts of this machine.
const fs = require('fs')
const net = require('net')
const path = require('path')

const PORT_START = 42003

// `<id>` or `<id>?session=...`: the part that names the script.
function stripSession (id) {
  const i = id.indexOf('?')
  return i === -1 ? id : id.slice(0, i)
}

class Snapshot {
  constructor (ctx) {
    ctx = ctx || {}
    this.home = ctx.home || path.join(require('os').homedir(), 'pinokio')
    this.sys = ctx.sys || {}
    this.envs = ctx.envs || {}
    this.running = new Set(ctx.running || [])
    this.ready = new Set(ctx.ready || [])
    this.local = ctx.local || {}
    this.global = ctx.global || {}
    this.key = ctx.key || {}
    this.reservedPorts = new Set(ctx.reserved_ports || [])
    this.handedPorts = [] // ports kernel.port()/ports() gave out during this call, reported back to Python
    this.portPool = [...(ctx.port_pool || [])] // the run's own ports, set aside by Python
    this.portStart = ctx.port_start || PORT_START // Python decides where the search begins
  }

  isRunning (file) {
    if (this.running.has(file)) return true
    for (const id of this.running) if (stripSession(id) === file) return true
    return false
  }

  isReady (file) {
    if (this.ready.has(file)) return true
    for (const id of this.ready) if (stripSession(id) === file) return true
    return false
  }

  // memory.local / memory.global entry for a script path, matching session-suffixed ids too.
  entry (store, file) {
    if (store[file]) return store[file]
    if (stripSession(file) !== file) return null
    for (const [id, value] of Object.entries(store)) if (value && stripSession(id) === file) return value
    return null
  }
}

function which (name, envs) {
  if (!name) return null
  if (name.includes('/')) return isExecutable(name) ? path.resolve(name) : null
  const searchPath = (envs && (envs.PATH || envs.Path)) || process.env.PATH || ''
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue
    const candidate = path.join(dir, name)
    if (isExecutable(candidate)) return candidate
  }
  return null
}

function isExecutable (file) {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch (e) {
    return false
  }
}

function isPortFree (port) {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)))
  })
}

// Free ports, skipping those Python reserved for other runs and those already handed out in this call,
// so two scripts starting at the same moment do not both get 42003.
async function freePorts (count, snap) {
  const found = []
  const own = new Set(snap.portPool)
  while (snap.portPool.length && found.length < count) {
    const port = snap.portPool.shift()
    if (await isPortFree(port)) found.push(port)
  }
  for (let port = snap.portStart; port < 65535 && found.length < count; port++) {
    if (snap.reservedPorts.has(port) || own.has(port) || found.includes(port)) continue
    if (await isPortFree(port)) found.push(port)
  }
  for (const port of found) {
    snap.reservedPorts.add(port)
    snap.handedPorts.push(port)
  }
  return found
}

// The clone under <home>/api whose origin is this git URL (spec §1.8), plus the rest of the path.
function resolveGitUri (uri, home) {
  const m = /^(https?:\/\/.+?\.git)(\/.*)?$/.exec(uri)
  if (!m) return null
  const apiDir = path.join(home, 'api')
  let names = []
  try {
    names = fs.readdirSync(apiDir)
  } catch (e) {
    return null
  }
  for (const name of names) {
    let config
    try {
      config = fs.readFileSync(path.join(apiDir, name, '.git', 'config'), 'utf8')
    } catch (e) {
      continue
    }
    const origin = /\[remote "origin"\][^[]*?url\s*=\s*(\S+)/.exec(config)
    if (origin && origin[1] === m[1]) return path.join(apiDir, name, ...(m[2] ? [m[2]] : []))
  }
  return null
}

function resolveUri (uri, cwd, home) {
  if (/^https?:\/\//.test(uri)) return resolveGitUri(uri, home)
  if (uri.startsWith('~/')) return path.join(home, uri.slice(2))
  return path.resolve(cwd, uri)
}

function makeKernel (snap, loader) {
  const vals = {
    platform: snap.sys.platform,
    arch: snap.sys.arch,
    gpu: snap.sys.gpu,
    gpu_model: snap.sys.gpu_model,
    gpu_driver: snap.sys.gpu_driver,
    gpu_target: snap.sys.gpu_target,
    gpus: snap.sys.gpus || [],
    vram: snap.sys.vram,
    ram: snap.sys.ram,
    env: snap.envs,
    envs: snap.envs,
    which: (name) => which(name, snap.envs)
  }
  const resolveScript = (base, ...rel) => {
    const resolvedBase = resolveUri(base, snap.home, snap.home)
    return resolvedBase ? path.resolve(resolvedBase, ...rel) : null
  }
  const kernel = {
    ...vals,
    homedir: snap.home,
    memory: { local: snap.local, global: snap.global, key: snap.key },
    template: { vals },
    path: (...p) => path.resolve(snap.home, ...p),
    bin: { path: (...p) => path.resolve(snap.home, 'bin', ...p) },
    exists: async (...p) => fs.existsSync(path.resolve(snap.home, ...p)),
    which: vals.which,
    port: async () => (await freePorts(1, snap))[0],
    ports: async (n) => freePorts(n, snap),
    running: (...p) => snap.isRunning(path.resolve(snap.home, ...p)),
    status: (p) => snap.isRunning(p),
    local: (...p) => snap.entry(snap.local, path.resolve(snap.home, ...p)) || {},
    global: (...p) => snap.entry(snap.global, path.resolve(snap.home, ...p)) || {},
    load: async (...p) => loader(path.resolve(snap.home, ...p)),
    require: async (...p) => loader(path.resolve(snap.home, ...p)),
    system: {
      graphics: async () => ({
        controllers: (snap.sys.gpus || []).map((g) => ({ vendor: g.name, model: g.model, vram: (g.vram || 0) * 1024, driverVersion: g.driver })),
        displays: []
      })
    },
    script: {
      resolve: resolveScript,
      local: (base, ...rel) => snap.entry(snap.local, resolveScript(base, ...rel)) || {},
      global: (base, ...rel) => snap.entry(snap.global, resolveScript(base, ...rel)) || {},
      running: (base, ...rel) => snap.isRunning(resolveScript(base, ...rel)),
      ready: (base, ...rel) => snap.isReady(resolveScript(base, ...rel)),
      exists: (base, ...rel) => {
        const p = resolveScript(base, ...rel)
        return p ? fs.existsSync(p) : false
      }
    }
  }
  return kernel
}

// `info` for pinokio.js menus: relative paths resolve against the launcher root (spec §1.7).
function makeInfo (snap, root) {
  const at = (p) => path.resolve(root, ...p)
  return {
    path: (...p) => at(p),
    exists: (...p) => fs.existsSync(at(p)),
    running: (...p) => snap.isRunning(at(p)),
    local: (...p) => snap.entry(snap.local, at(p)) || {},
    global: (...p) => snap.entry(snap.global, at(p)) || {},
    ready: (...p) => {
      if (p.length && (/^https?:\/\//.test(p[0]) || p[0].startsWith('~/'))) {
        const resolved = resolveUri(p[0], root, snap.home)
        return resolved ? snap.isReady(path.resolve(resolved, ...p.slice(1))) : false
      }
      return snap.isReady(at(p))
    },
    venv: async (dir) => findVenvs(dir ? path.resolve(root, dir) : root)
  }
}

function findVenvs (dir, depth = 0, found = []) {
  if (depth > 4) return found
  let entries = []
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true })
  } catch (e) {
    return found
  }
  if (fs.existsSync(path.join(dir, 'bin', 'python')) || fs.existsSync(path.join(dir, 'python.exe'))) {
    found.push(dir)
    return found
  }
  for (const e of entries) {
    if (e.isDirectory() && e.name !== 'node_modules' && e.name !== '.git') findVenvs(path.join(dir, e.name), depth + 1, found)
  }
  return found
}

module.exports = { Snapshot, makeKernel, makeInfo, which, resolveUri }
