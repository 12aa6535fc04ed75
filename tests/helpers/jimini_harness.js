'use strict'
// Renders test cases with the ORIGINAL template engine (jimini@0.0.8, from npm) and the step
// algorithm of pinokiod's `step()` as spec §2.3–2.4 describes it, so tests can compare our engine
// with it. Input: a JSON array of cases on stdin. Output: a JSON array of results on stdout.
const fs = require('fs')
const path = require('path')
const Template = require('jimini')
// Both engines' results go through the same JSON conversion before they are compared.
const { toData } = require('../../src/pinokiocloud/kernel/js/data.js')

function whichIn (envs) {
  return (name) => {
    for (const dir of String(envs.PATH || '').split(path.delimiter)) {
      if (!dir) continue
      const p = path.join(dir, name)
      try { fs.accessSync(p, fs.constants.X_OK); if (fs.statSync(p).isFile()) return p } catch (e) {}
    }
    return null
  }
}

async function engineFor (c) {
  const t = new Template()
  const home = c.home
  const kernel = { ...c.sys, homedir: home, envs: c.envs, path: (...p) => path.resolve(home, ...p) }
  await t.init({ kernel, platform: c.sys.platform, arch: c.sys.arch, gpu_target: c.sys.gpu_target, vram: c.sys.vram, ram: c.sys.ram, proxy: (port) => `http://localhost:${port}` })
  t.update({ env: c.envs, envs: c.envs, which: whichIn(c.envs) })
  t.update({ gpu: c.sys.gpu, gpu_model: c.sys.gpu_model, gpu_driver: c.sys.gpu_driver, gpus: c.sys.gpus })
  return t
}

function memoryFor (c) {
  const cwd = c.memory.cwd
  return {
    ...c.memory,
    exists: (...p) => fs.existsSync(path.resolve(cwd, ...p)),
    running: () => false,
    ready: () => false
  }
}

// pinokiod kernel/api step(): render until no template is left (4 renders at most), flatten, `when`.
function renderStep (t, rawrpc, memory) {
  let rpc = rawrpc
  let pass = 0
  while (true) {
    rpc = t.render(rpc, memory)
    if (t.istemplate(rpc)) { pass++; if (pass >= 4) break; else continue } else break
  }
  rpc = t.flatten(rpc)
  let runs = true
  if (rpc && typeof rpc === 'object' && Object.prototype.hasOwnProperty.call(rpc, 'when')) {
    runs = rpc.when ? Boolean(t.render(rpc.when, memory, { allow_undefined: true })) : false
  }
  return { step: rpc, runs }
}

async function main () {
  const cases = JSON.parse(fs.readFileSync(0, 'utf8'))
  const out = []
  const realLog = console.log
  for (const c of cases) {
    const t = await engineFor(c)
    const memory = memoryFor(c)
    let quirk = false
    console.log = (...a) => { if (typeof a[0] === 'string' && a[0].startsWith('template render log')) quirk = true }
    const result = { id: c.id }
    try {
      if (c.mode === 'step') {
        const r = renderStep(t, c.template, memory)
        result.value = toData(r.step)
        result.runs = r.runs
      } else {
        const value = t.render(c.template, memory, c.allow_undefined ? { allow_undefined: true } : undefined)
        if (value === undefined) result.undefined = true
        else result.value = toData(value)
      }
    } catch (e) {
      result.threw = String(e && e.name)
    }
    console.log = realLog
    result.quirk = quirk
    out.push(result)
  }
  process.stdout.write(JSON.stringify(out))
}

main().catch((e) => { console.error(e); process.exit(1) })
