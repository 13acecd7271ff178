#!/usr/bin/env node
'use strict';
// Load generator of the flask-realtime benchmark suite.
//
// It speaks Engine.IO v4 / Socket.IO v5 itself, on raw TCP sockets with a minimal WebSocket
// client of its own (default, `--transport raw`) or on the `ws` library (`--transport ws`),
// and HTTP long-polling with a minimal HTTP/1.1 client of its own. The hot path does
// no JSON: a received message is classified by its first two bytes, and the frames it sends
// are built once and written again and again.
//
// One run = one scenario case = one JSON line on stdout. Every loop is bounded in count and
// in time: `--timeout` is a hard deadline for the whole process.
//
//   node loadgen.js --scenario echo --port 5000 --clients 10 --mode emit --event echo
//   node loadgen.js --scenario broadcast --port 5000 --clients 1000 --count 100 --bsize 64
//   node loadgen.js --scenario broadcast --ports 5001,5002 --server-pid 11,12 --clients 1000
//   node loadgen.js --scenario connections --port 5000 --clients 10000
//   node loadgen.js --scenario polling --port 5000 --clients 10 --mode echo
//
// With --workers W > 1 the clients are spread over W child processes (one per core given to
// the load generator); the parent only coordinates them.

const { fork } = require('child_process');
const { performance } = require('perf_hooks');
const procstat = require('./lib/procstat');
const { epochNow, Hist } = require('./lib/timing');
const { Worker } = require('./lib/worker');

// ---------------------------------------------------------------------------------------------
// options

const DEFAULTS = {
  scenario: 'echo',
  host: '127.0.0.1',
  port: 5000,
  ports: '', // comma-separated: clients spread over several servers (a cluster), round-robin
  path: '/socket.io/',
  clients: 10,
  mode: 'emit', // echo: emit | ack; polling: echo | handshake
  event: 'echo', // the event the server handles (echo, aecho, echo_ack, aecho_ack)
  nsp: '/', // polling handshakes: the namespace connected to (/cdef, /casync: a connect handler)
  size: 64, // characters of the echo payload's string
  duration: 5, // seconds measured
  warmup: 1, // seconds run before the measured window
  'max-ops': 50000000, // bound on operations per run
  count: 100, // broadcast: messages per round
  bsize: 64, // broadcast: payload characters
  'warmup-count': 10, // broadcast: messages in the warm-up round
  settle: 2, // connections: seconds idle before RSS is read
  'connect-concurrency': 100, // handshakes in flight at once
  'connect-timeout': 60, // seconds to connect every client
  timeout: 120, // hard deadline of the whole run, seconds
  'server-pid': '', // comma-separated for a cluster: CPU and RSS are summed over them
  'server-cpus': '', // the CPUs the server is pinned to (their load is reported)
  'gen-cpus': '', // the CPUs the load generator is pinned to
  transport: 'raw', // raw | ws
  workers: 1,
  'source-addresses': 1, // spread clients over 127.0.0.1 .. 127.0.0.N
  'worker-index': -1, // internal
};

function parseArgs(argv) {
  const o = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const k = a.slice(2);
    if (!(k in DEFAULTS)) throw new Error(`unknown option --${k}`);
    const v = argv[++i];
    if (v === undefined) throw new Error(`--${k} needs a value`);
    o[k] = typeof DEFAULTS[k] === 'number' ? Number(v) : v;
    if (typeof DEFAULTS[k] === 'number' && !Number.isFinite(o[k])) throw new Error(`--${k}: not a number: ${v}`);
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// The coordinator drives the workers (in this process when --workers 1, else child processes).

class WorkerSet {
  constructor(opts) {
    this.o = opts;
    this.n = Math.max(1, opts.workers | 0);
    this.inbox = [];
    this.waiters = [];
    this.children = [];
    if (this.n === 1) {
      const w = new Worker(opts, 0, 1, (m) => setImmediate(() => this.deliver(0, m)));
      this.sendTo = (i, m) => setImmediate(() => w.handle(m));
    } else {
      for (let i = 0; i < this.n; i++) {
        const args = [...process.argv.slice(2), '--worker-index', String(i)];
        const child = fork(__filename, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
        child.on('message', (m) => this.deliver(i, m));
        child.on('exit', (code) => this.deliver(i, { ev: 'exit', code }));
        this.children.push(child);
      }
      this.sendTo = (i, m) => this.children[i].send(m);
    }
  }
  deliver(i, m) {
    this.inbox.push({ i, m });
    const ws = this.waiters;
    this.waiters = [];
    for (const f of ws) f();
  }
  broadcast(m) {
    for (let i = 0; i < this.n; i++) this.sendTo(i, m);
  }
  // collect one `ev` message from every worker, or give up after timeoutMs
  async collect(ev, timeoutMs) {
    const got = new Map();
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      for (let k = 0; k < this.inbox.length; ) {
        const { i, m } = this.inbox[k];
        if (m.ev === ev && !got.has(i)) {
          got.set(i, m);
          this.inbox.splice(k, 1);
        } else if (m.ev === 'exit') {
          throw new Error(`worker ${i} exited with code ${m.code}`);
        } else {
          k++;
        }
      }
      if (got.size === this.n) return [...got.values()];
      const left = deadline - performance.now();
      if (left <= 0) return null;
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
  kill() {
    for (const c of this.children) c.kill('SIGKILL');
  }
}

const sumOf = (xs, f) => xs.reduce((a, x) => a + (f(x) || 0), 0);
const allErrors = (xs) => [...new Set(xs.flatMap((x) => x.errors || []))].slice(0, 8);
const round = (v, d = 1) => (v === null || v === undefined || !Number.isFinite(v) ? null : Math.round(v * 10 ** d) / 10 ** d);

async function connectAll(ws, o) {
  const tStart = epochNow();
  const timeoutMs = o['connect-timeout'] * 1000;
  ws.broadcast({ cmd: 'connect', concurrency: o['connect-concurrency'], timeoutMs });
  const rs = await ws.collect('connected', timeoutMs + 5000);
  if (!rs) throw new Error('workers did not report the connect phase');
  const hist = new Hist();
  for (const r of rs) hist.merge(r.hist);
  const connected = sumOf(rs, (r) => r.connected);
  const tDone = Math.max(...rs.map((r) => r.tDone));
  const failed = sumOf(rs, (r) => r.failed);
  const clientCpuUs = sumOf(rs, (r) => r.clientCpuUs);
  return { tStart, tDone, connected, failed, hist, clientCpuUs, errors: allErrors(rs) };
}

// who is measured: the server's processes, the load generator's (this one and its workers)
function measured(ws, o) {
  return {
    serverPids: o['server-pid'],
    genPids: [process.pid, ...ws.children.map((c) => c.pid)].join(','),
    serverCpus: procstat.cpuSet(o['server-cpus']),
    genCpus: procstat.cpuSet(o['gen-cpus']),
  };
}
const snap = (who) => procstat.snapshot(who, epochNow);

async function runEcho(ws, o, out, connect = true) {
  if (connect) {
    const con = await connectAll(ws, o);
    out.connected = con.connected;
    if (con.connected < o.clients) {
      out.ok = false;
      out.error = `connected ${con.connected} of ${o.clients} within ${o['connect-timeout']} s`;
      out.errors = con.errors;
      return;
    }
  }
  const who = measured(ws, o);
  const tStart = epochNow() + o.warmup * 1000;
  const tEnd = tStart + o.duration * 1000;
  // CPU readings at the window's edges (or when the workers stop early)
  let cpu0 = null;
  let cpu1 = null;
  const t0 = setTimeout(() => {
    cpu0 = snap(who);
  }, tStart - epochNow());
  const t1 = setTimeout(() => {
    cpu1 = snap(who);
  }, tEnd - epochNow());
  ws.broadcast({ cmd: o.scenario === 'polling' ? 'poll' : 'echo', tStart, tEnd, maxOps: o['max-ops'] });
  const rs = await ws.collect('echoDone', (o.warmup + o.duration) * 1000 + 60000);
  clearTimeout(t0);
  clearTimeout(t1);
  if (cpu1 === null) cpu1 = snap(who);
  if (!rs) throw new Error('workers did not finish the measured window');
  const hist = new Hist();
  for (const r of rs) hist.merge(r.hist);
  const ops = sumOf(rs, (r) => r.ops);
  const windowS = (Math.min(tEnd, Math.max(...rs.map((r) => r.tEnd))) - tStart) / 1000;
  const cpu = cpu0 === null ? {} : procstat.windowFields(cpu0, cpu1, who);
  const serverCpu = cpu.server_cpu_s ?? null;
  const clientCpuUs = sumOf(rs, (r) => r.clientCpuUs);
  Object.assign(out, {
    ok: ops > 0,
    window_s: round(windowS, 3),
    ops,
    rate: round(ops / windowS),
    ...hist.summary(''),
    ...cpu,
    server_cpu_us_per_op: serverCpu === null || !ops ? null : round((serverCpu * 1e6) / ops, 2),
    gen_cpu_us_per_op:
      cpu.gen_cpu_util === null || cpu.gen_cpu_util === undefined || !ops
        ? null
        : round((cpu.gen_cpu_util * windowS * Math.max(1, who.genCpus.length) * 1e6) / ops, 2),
    client_cpu_util: round(clientCpuUs / 1e6 / windowS / ws.n, 3),
    truncated: rs.some((r) => r.truncated),
    dropped: sumOf(rs, (r) => r.dropped),
    errors: allErrors(rs),
  });
  if (!ops) out.error = 'no operation completed in the window';
}

async function runBroadcast(ws, o, out) {
  const con = await connectAll(ws, o);
  out.connected = con.connected;
  out.connect_rate = round(con.connected / ((con.tDone - con.tStart) / 1000));
  if (con.connected < o.clients) {
    out.ok = false;
    out.error = `connected ${con.connected} of ${o.clients} within ${o['connect-timeout']} s`;
    out.errors = con.errors;
    return;
  }
  const who = measured(ws, o);
  const deadlineMs = Math.max(5000, o.timeout * 1000 - (epochNow() - START) - 5000);
  const roundTrip = async (count, budgetMs) => {
    ws.sendTo(0, { cmd: 'bround', count, size: o.bsize, trigger: true });
    for (let i = 1; i < ws.n; i++) ws.sendTo(i, { cmd: 'bround', count, size: o.bsize, trigger: false });
    let rs = await ws.collect('bdone', budgetMs);
    if (!rs) {
      ws.broadcast({ cmd: 'breport' });
      rs = await ws.collect('bdone', 5000);
    }
    return rs;
  };
  // warm-up round: a few messages to every client, not measured
  const warm = await roundTrip(Math.min(o.count, o['warmup-count']), deadlineMs / 3);
  if (!warm || warm.some((r) => r.partial)) {
    out.ok = false;
    out.error = 'warm-up broadcast did not reach every client';
    out.errors = warm ? allErrors(warm) : [];
    return;
  }
  const cpu0 = snap(who);
  const rs = await roundTrip(o.count, Math.max(5000, o.timeout * 1000 - (epochNow() - START) - 8000));
  const cpu1 = snap(who);
  if (!rs) throw new Error('workers did not report the broadcast round');
  const trigger = rs.find((r) => r.trigger !== null).trigger;
  const doneTimes = rs.flatMap((r) => r.doneTimes).sort((a, b) => a - b);
  const delivered = sumOf(rs, (r) => r.delivered);
  const incomplete = sumOf(rs, (r) => r.incomplete);
  const last = doneTimes.length ? doneTimes[doneTimes.length - 1] : null;
  const firsts = rs.map((r) => r.first).filter((x) => x !== null);
  const elapsedS = last === null ? null : (last - trigger) / 1000;
  const cpu = procstat.windowFields(cpu0, cpu1, who);
  const serverCpu = cpu.server_cpu_s;
  Object.assign(out, {
    ok: incomplete === 0,
    expected: o.clients * o.count,
    delivered,
    rate: elapsedS ? round(delivered / elapsedS) : null,
    time_to_last_ms: elapsedS === null ? null : round(elapsedS * 1000, 2),
    time_to_first_ms: firsts.length ? round(Math.min(...firsts) - trigger, 2) : null,
    client_done_p50_ms: doneTimes.length ? round(doneTimes[Math.floor(doneTimes.length / 2)] - trigger, 2) : null,
    ...cpu,
    server_cpu_us_per_op: serverCpu === null || !delivered ? null : round((serverCpu * 1e6) / delivered, 3),
    client_cpu_util: elapsedS ? round(sumOf(rs, (r) => r.clientCpuUs) / 1e6 / elapsedS / ws.n, 3) : null,
    incomplete_clients: incomplete,
    dropped: sumOf(rs, (r) => r.dropped),
    errors: allErrors(rs),
  });
  if (incomplete) out.error = `${incomplete} clients did not get all ${o.count} messages in time`;
}

async function runConnections(ws, o, out) {
  const pid = o['server-pid'];
  const who = measured(ws, o);
  const rss0 = procstat.serverRssKiB(pid);
  const cpu0 = snap(who);
  const con = await connectAll(ws, o);
  const cpu1 = snap(who);
  const connectS = (con.tDone - con.tStart) / 1000;
  const settleMs = o.settle * 1000;
  await new Promise((r) => setTimeout(r, settleMs));
  const rss1 = procstat.serverRssKiB(pid);
  const cpu = procstat.windowFields(cpu0, cpu1, who);
  const serverCpu = cpu.server_cpu_s;
  Object.assign(out, {
    ok: con.connected === o.clients,
    connected: con.connected,
    failed: con.failed,
    connect_s: round(connectS, 3),
    connect_rate: round(con.connected / connectS),
    ...con.hist.summary('connect_'),
    rss_before_kib: rss0,
    rss_after_kib: rss1,
    kib_per_conn: rss0 === null || rss1 === null || !con.connected ? null : round((rss1 - rss0) / con.connected, 2),
    ...cpu,
    server_cpu_us_per_op: serverCpu === null || !con.connected ? null : round((serverCpu * 1e6) / con.connected, 1),
    client_cpu_util: round(con.clientCpuUs / 1e6 / connectS / ws.n, 3),
    errors: con.errors,
  });
  if (con.connected < o.clients) out.error = `connected ${con.connected} of ${o.clients} within ${o['connect-timeout']} s`;
}

async function runPolling(ws, o, out) {
  // handshake mode has nothing to set up: every iteration of its loop is a whole handshake
  return runEcho(ws, o, out, o.mode !== 'handshake');
}

const START = epochNow();

async function coordinator(o) {
  const out = {
    scenario: o.scenario,
    mode: o.mode,
    event: o.event,
    clients: o.clients,
    transport: o.scenario === 'polling' ? 'polling' : o.transport,
    workers: o.workers,
    ok: false,
  };
  let ws = null;
  const emit = (code) => {
    process.stdout.write(`${JSON.stringify(out)}\n`);
    if (ws) ws.kill();
    process.exit(code);
  };
  const hard = setTimeout(() => {
    out.ok = false;
    out.error = `hard deadline of ${o.timeout} s reached`;
    emit(3);
  }, o.timeout * 1000);
  try {
    ws = new WorkerSet(o);
    const run = { echo: runEcho, broadcast: runBroadcast, connections: runConnections, polling: runPolling }[o.scenario];
    if (!run) throw new Error(`unknown scenario ${o.scenario}`);
    await run(ws, o, out);
    ws.broadcast({ cmd: 'close' });
    await ws.collect('closed', 5000);
  } catch (e) {
    out.ok = false;
    out.error = e.message;
  }
  clearTimeout(hard);
  out.wall_s = round((epochNow() - START) / 1000, 2);
  emit(out.ok ? 0 : 1);
}

function workerMain(o) {
  const idx = o['worker-index'];
  const w = new Worker(o, idx, Math.max(1, o.workers | 0), (m) => process.send(m));
  process.on('message', (m) => w.handle(m));
  process.on('disconnect', () => process.exit(0));
  setTimeout(() => process.exit(4), o.timeout * 1000 + 5000).unref();
}

function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: e.message })}\n`);
    process.exit(2);
  }
  if (o['worker-index'] >= 0) workerMain(o);
  else coordinator(o);
}

main();
