'use strict'
// PinokioCloud's Node sidecar: the only place where launcher JavaScript runs.
//
// Protocol: JSON lines. Python writes {id, method, params, timeout_ms} to stdin; we answer
// {id, result} or {id, error: {type, message, file, line, column}} on stdout, in any order.
//
// The main thread only routes messages. All script code runs in one worker thread, so a call that
// never returns (a `while(true){}` in a menu) can be cancelled by terminating the worker: the caller
// gets a TimeoutError, a fresh worker starts, and the other calls that were in flight are sent again.
const { isMainThread } = require('worker_threads')

if (isMainThread) {
  runRouter()
} else {
  require('./engine.js').serve()
}

function runRouter () {
  const { Worker } = require('worker_threads')
  const readline = require('readline')
  const DEFAULT_TIMEOUT_MS = 10000
  const WORKER_YOUNG_MB = 4
  const WORKER_OLD_MB = 256
  const inflight = new Map() // id -> {message, timer, resent}
  let worker = null
  let generation = 0

  function reply (line) {
    process.stdout.write(line + '\n')
  }

  function replyError (id, type, message) {
    reply(JSON.stringify({ id, error: { type, message } }))
  }

  function startWorker () {
    generation += 1
    const mine = generation
    // A small young generation keeps the sidecar's memory flat on a notebook with little RAM to
    // spare; the old-generation cap turns a script that eats memory into a restarted worker.
    const resourceLimits = { maxYoungGenerationSizeMb: WORKER_YOUNG_MB, maxOldGenerationSizeMb: WORKER_OLD_MB }
    const w = new Worker(__filename, { stdout: true, stderr: false, resourceLimits })
    // Script output (console.log in a launcher) must never reach our stdout, which is the RPC channel.
    w.stdout.on('data', (chunk) => process.stderr.write(chunk))
    w.on('message', (msg) => {
      if (mine !== generation) return
      const entry = inflight.get(msg.id)
      if (!entry) return
      clearTimeout(entry.timer)
      inflight.delete(msg.id)
      reply(msg.line)
    })
    w.on('error', (err) => {
      if (mine !== generation) return
      process.stderr.write(`[sidecar] worker crashed: ${err && err.stack ? err.stack : err}\n`)
      restart(null)
    })
    w.on('exit', () => {
      if (mine !== generation) return
      process.stderr.write('[sidecar] worker exited; starting a new one\n')
      restart(null)
    })
    worker = w
  }

  function dispatch (entry) {
    const ms = entry.message.timeout_ms || DEFAULT_TIMEOUT_MS
    entry.timer = setTimeout(() => onTimeout(entry.message.id, ms), ms)
    worker.postMessage(entry.message)
  }

  function onTimeout (id, ms) {
    const entry = inflight.get(id)
    if (!entry) return
    inflight.delete(id)
    replyError(id, 'TimeoutError', `did not finish within ${ms / 1000} s (an endless loop?)`)
    restart(id)
  }

  // Replace the worker. Calls caught in the old one are sent once more; a call that was already
  // resent fails, so a call that crashes the worker every time cannot loop forever.
  function restart (culprit) {
    const old = worker
    startWorker()
    if (old) old.terminate().catch(() => {})
    for (const [id, entry] of inflight) {
      clearTimeout(entry.timer)
      if (entry.resent || id === culprit) {
        inflight.delete(id)
        replyError(id, 'SidecarError', 'the sidecar worker was restarted while this call was running; try again')
      } else {
        entry.resent = true
        dispatch(entry)
      }
    }
  }

  function handle (line) {
    if (!line.trim()) return
    let message
    try {
      message = JSON.parse(line)
    } catch (e) {
      process.stderr.write(`[sidecar] unreadable request: ${e.message}\n`)
      return
    }
    if (message.method === 'ping') {
      reply(JSON.stringify({ id: message.id, result: { pid: process.pid, node: process.version } }))
      return
    }
    if (message.method === 'stats') {
      reply(JSON.stringify({ id: message.id, result: { rss: process.memoryUsage().rss, inflight: inflight.size } }))
      return
    }
    const entry = { message, timer: null, resent: false }
    inflight.set(message.id, entry)
    dispatch(entry)
  }

  startWorker()
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  rl.on('line', handle)
  rl.on('close', () => process.exit(0))
}
