'use strict'
// Baseline for bench_templates.py: render the same steps with the original engine (jimini@0.0.8)
// in-process, with pinokiod's step loop (4 passes, flatten, when). Prints {steps, seconds}.
const fs = require('fs')
const Template = require('jimini')

async function main () {
  const { steps, memory, sys, envs } = JSON.parse(fs.readFileSync(0, 'utf8'))
  const t = new Template()
  await t.init({ kernel: sys, platform: sys.platform, arch: sys.arch, gpu_target: sys.gpu_target, vram: sys.vram, ram: sys.ram })
  t.update({ env: envs, envs, which: () => null, gpu: sys.gpu, gpu_model: sys.gpu_model, gpu_driver: sys.gpu_driver, gpus: sys.gpus })
  const mem = { ...memory, exists: () => false, running: () => false, ready: () => false }
  const log = console.log
  console.log = () => {}
  const started = process.hrtime.bigint()
  for (const raw of steps) {
    let rpc = raw
    let pass = 0
    while (true) {
      rpc = t.render(rpc, mem)
      if (t.istemplate(rpc)) { pass++; if (pass >= 4) break } else break
    }
    rpc = t.flatten(rpc)
    if (rpc.when) t.render(rpc.when, mem, { allow_undefined: true })
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  console.log = log
  process.stdout.write(JSON.stringify({ steps: steps.length, seconds }))
}
main()
