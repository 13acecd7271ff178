'use strict';
// Peer for bench/soak.py (--server node): Node's socket.io 4.8 with what soak_server.py has,
// so that both servers meet the same clients, churn and mass disconnect in one run:
//   - "echo" answers with its arguments and when it ran (CLOCK_MONOTONIC seconds, the clock
//     of Python's time.perf_counter on Linux), so that the conductor tells the two legs;
//   - a disconnect listener per socket, as most apps have;
//   - GET /stats: live sessions, the major (mark-compact) GC pauses since the last read
//     ([when it ended, seconds], on the conductor's clock, time.monotonic), the process's
//     CPU seconds, and with SOAK_LOOP_TURNS=1 the longest gap of a 1 ms timer (its longest
//     loop turn) and the process CPU time spent in it.
// It prints "Socket.IO on http://127.0.0.1:PORT", as socketio.run does. Read with care: a
// major GC entry is V8's stop-the-world pause only (its marking runs concurrently), not a
// walk of everything as Python's full collection; the CPU per turn is the process's (GC
// threads too), where soak_server.py's is the loop thread's; the SOAK_* settings of the
// Python server (collector, switch interval, pool) do not apply.
const http = require('http');
const { PerformanceObserver, constants, performance } = require('perf_hooks');
const { Server } = require('socket.io');

const monotonic = () => Number(process.hrtime.bigint()) / 1e9;
const cpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

const pauses = [];
new PerformanceObserver((list) => {
  const now = monotonic();
  const nowMs = performance.now();
  for (const entry of list.getEntries()) {
    if (entry.detail && entry.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      const endedAgo = (nowMs - (entry.startTime + entry.duration)) / 1e3;
      pauses.push([now - endedAgo, entry.duration / 1e3]);
    }
  }
}).observe({ entryTypes: ['gc'] });

const turn = { max: 0, cpu: 0 };
if (process.env.SOAK_LOOP_TURNS) {
  let last = monotonic();
  let lastCpu = cpuSeconds();
  setInterval(() => {
    const now = monotonic();
    const cpu = cpuSeconds();
    if (now - last > turn.max) {
      turn.max = now - last;
      turn.cpu = cpu - lastCpu;
    }
    last = now;
    lastCpu = cpu;
  }, 1);
}

const httpServer = http.createServer((req, res) => {
  if (!req.url.startsWith('/stats')) {
    res.writeHead(404).end();
    return;
  }
  const answer = {
    sessions: io.engine.clientsCount,
    gc2: pauses.splice(0, pauses.length),
    cpu_s: cpuSeconds(),
    blocks: 0, // Python's heap figures: none here
    sweeps: 0,
    frozen: 0,
  };
  if (turn.max) {
    answer.turn_max_ms = Math.round(turn.max * 1e4) / 10;
    answer.turn_cpu_ms = Math.round(turn.cpu * 1e4) / 10;
    turn.max = turn.cpu = 0;
  }
  const body = Buffer.from(JSON.stringify(answer));
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
});
const io = new Server(httpServer, { serveClient: false, perMessageDeflate: false });

const left = [];
io.on('connection', (socket) => {
  socket.on('echo', (...args) => {
    const ack = args.pop();
    if (typeof ack === 'function') ack(...args, monotonic());
  });
  socket.on('disconnect', (reason) => {
    left.push(reason);
    if (left.length > 100) left.splice(0, left.length - 100);
  });
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
httpServer.listen(Number(process.env.SOAK_PORT || 0), '127.0.0.1', () => {
  console.log(`Socket.IO on http://127.0.0.1:${httpServer.address().port} (node socket.io)`);
});
