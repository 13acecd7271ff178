'use strict';
// A load generator worker: its share of the clients, driven by the coordinator's commands
// (connect, echo, broadcast rounds, polling, close), reporting back with post().
const { performance } = require('perf_hooks');
const { epochNow, Hist } = require('./timing');
const { RawConn, WsLibConn, SioClient } = require('./wsclient');
const { PollClient } = require('./pollclient');

// A worker runs its share of the clients and answers the coordinator's commands.

function echoPayloadJson(size) {
  return JSON.stringify({ msg: 'x'.repeat(size) });
}

class Worker {
  constructor(opts, index, count, post) {
    this.o = opts;
    this.index = index;
    this.count = count;
    this.post = post;
    this.Conn = opts.transport === 'ws' ? WsLibConn : RawConn;
    this.nClients = Math.floor(opts.clients / count) + (index < opts.clients % count ? 1 : 0);
    this.clients = [];
    this.failures = 0;
    this.dropped = 0;
    this.errors = new Map(); // reason -> count
    this.pp = {
      pong: this.Conn.prepare(Buffer.from('3')),
      connectNs: this.Conn.prepare(Buffer.from('40')),
    };
    this.phase = 'idle';
    this.ports = String(opts.ports || '').split(',').filter(Boolean).map(Number);
  }

  // the options of client i of this worker: its server's port when there are several
  clientOpts(i) {
    if (!this.ports.length) return this.o;
    return { ...this.o, port: this.ports[(i * this.count + this.index) % this.ports.length] };
  }

  noteError(why) {
    const k = String(why).slice(0, 160);
    this.errors.set(k, (this.errors.get(k) || 0) + 1);
  }

  errorList() {
    return [...this.errors.entries()].map(([k, v]) => `${v}x ${k}`);
  }

  handle(msg) {
    const f = this[`cmd_${msg.cmd}`];
    if (!f) throw new Error(`unknown command ${msg.cmd}`);
    f.call(this, msg);
  }

  address(i) {
    const n = Math.max(1, this.o['source-addresses'] | 0);
    return n === 1 ? undefined : `127.0.0.${1 + ((i * this.count + this.index) % n)}`;
  }

  // connect this worker's clients, at most `concurrency` handshakes in flight
  cmd_connect(msg) {
    if (this.o.scenario === 'polling') return this.pollConnect(msg);
    const hist = new Hist();
    const total = this.nClients;
    const conc = Math.max(1, Math.ceil(msg.concurrency / this.count));
    let started = 0;
    let settled = 0;
    let tDone = null;
    const cpu0 = process.cpuUsage();
    const deadline = setTimeout(() => finish(true), msg.timeoutMs);
    const finish = (timedOut) => {
      if (tDone !== null) return;
      tDone = epochNow();
      clearTimeout(deadline);
      const cpu = process.cpuUsage(cpu0);
      this.post({
        ev: 'connected',
        clientCpuUs: cpu.user + cpu.system,
        connected: this.clients.filter((c) => c.connected && !c.done).length,
        failed: this.failures,
        timedOut,
        tDone,
        hist: hist.toJSON(),
        errors: this.errorList(),
      });
    };
    const handlers = {
      onConnect: (c) => {
        hist.add((performance.now() - c.t0) * 1000);
        settled++;
        next();
      },
      onEvent: (c, b, s, e) => this.onEvent(c, b, s, e),
      onAck: (c, b, s, e) => this.onAck(c, b, s, e),
      onFail: (c, why) => {
        this.noteError(why);
        if (c.connected) {
          this.dropped++;
          return;
        }
        this.failures++;
        settled++;
        next();
      },
    };
    const next = () => {
      if (tDone !== null) return;
      while (started < total && started - settled < conc) {
        this.clients.push(new SioClient(this.clientOpts(started), this.Conn, this.address(started), handlers, this.pp));
        started++;
      }
      if (settled === total) finish(false);
    };
    if (total === 0) finish(false);
    else next();
    return undefined;
  }

  // ---- echo: closed loop, one event in flight per client
  cmd_echo(msg) {
    const ack = this.o.mode === 'ack';
    const data = echoPayloadJson(this.o.size);
    this.ackTail = Buffer.from(`[${JSON.stringify(this.o.event)},${data}]`);
    this.evFrame = this.Conn.prepare(Buffer.from(`42[${JSON.stringify(this.o.event)},${data}]`));
    this.perfStart = msg.tStart - performance.timeOrigin;
    this.perfEnd = msg.tEnd - performance.timeOrigin;
    this.maxOps = Math.ceil(msg.maxOps / this.count);
    this.ops = 0;
    this.hist = new Hist();
    this.stopped = false;
    this.phase = 'echo';
    this.cpu0 = null;
    const live = this.clients.filter((c) => c.connected && !c.done);
    const startCpu = setTimeout(() => {
      this.cpu0 = process.cpuUsage();
    }, Math.max(0, this.perfStart - performance.now()));
    const stop = () => {
      if (this.stopped) return;
      this.stopped = true;
      clearTimeout(startCpu);
      clearTimeout(this.stopTimer);
      const cpu = process.cpuUsage(this.cpu0 || undefined);
      this.post({
        ev: 'echoDone',
        ops: this.ops,
        tEnd: epochNow(),
        truncated: this.ops >= this.maxOps,
        hist: this.hist.toJSON(),
        clientCpuUs: this.cpu0 ? cpu.user + cpu.system : null,
        dropped: this.dropped,
        errors: this.errorList(),
      });
    };
    this.stopEcho = stop;
    this.stopTimer = setTimeout(stop, Math.max(0, this.perfEnd - performance.now()));
    for (const c of live) this.sendEcho(c, ack);
  }

  sendEcho(c, ack) {
    c.sentAt = performance.now();
    if (ack) {
      c.ackId++;
      c.send(this.Conn.prepare(Buffer.concat([Buffer.from(`42${c.ackId}`), this.ackTail])));
    } else {
      c.send(this.evFrame);
    }
  }

  echoReply(c) {
    if (this.stopped) return;
    const t = performance.now();
    if (t >= this.perfEnd) {
      this.stopEcho();
      return;
    }
    if (t >= this.perfStart) {
      this.hist.add((t - c.sentAt) * 1000);
      if (++this.ops >= this.maxOps) {
        this.stopEcho();
        return;
      }
    }
    this.sendEcho(c, this.o.mode === 'ack');
  }

  onEvent(c, b, s, e) {
    if (this.phase === 'echo') {
      if (this.o.mode !== 'ack') this.echoReply(c);
    } else if (this.phase === 'broadcast') {
      this.onBroadcastMessage(c);
    }
  }

  onAck(c) {
    if (this.phase === 'echo' && this.o.mode === 'ack') this.echoReply(c);
  }

  // ---- broadcast: count the messages each client gets in a round
  cmd_bround(msg) {
    this.phase = 'broadcast';
    this.bExpect = msg.count;
    this.bPending = 0;
    this.bDelivered = 0;
    this.bFirst = null;
    this.bDoneTimes = [];
    this.bReported = false;
    this.bCpu = process.cpuUsage();
    for (const c of this.clients) {
      c.bcount = 0;
      if (c.connected && !c.done) this.bPending++;
    }
    this.bTrigger = null;
    if (msg.trigger) {
      const c = this.clients.find((x) => x.connected && !x.done);
      if (!c) {
        this.noteError('no connected client to send the trigger');
        this.reportRound(true);
        return;
      }
      const body = `42["start_broadcast",${JSON.stringify({ count: msg.count, size: msg.size })}]`;
      this.bTrigger = epochNow();
      c.send(this.Conn.prepare(Buffer.from(body)));
    }
    if (this.bPending === 0) this.reportRound(false);
  }

  onBroadcastMessage(c) {
    if (this.bReported) return;
    const t = epochNow();
    if (this.bFirst === null) this.bFirst = t;
    this.bDelivered++;
    if (++c.bcount === this.bExpect) {
      this.bDoneTimes.push(t);
      if (--this.bPending === 0) this.reportRound(false);
    }
  }

  reportRound(partial) {
    if (this.bReported) return;
    this.bReported = true;
    const cpu = process.cpuUsage(this.bCpu);
    this.post({
      ev: 'bdone',
      clientCpuUs: cpu.user + cpu.system,
      partial,
      trigger: this.bTrigger,
      first: this.bFirst,
      doneTimes: this.bDoneTimes,
      delivered: this.bDelivered,
      incomplete: this.bPending,
      dropped: this.dropped,
      errors: this.errorList(),
    });
  }

  cmd_breport() {
    this.reportRound(true);
  }

  // ---- polling
  pollConnect(msg) {
    const total = this.nClients;
    const hist = new Hist();
    const tEnd = performance.now() + msg.timeoutMs;
    this.pollClients = [];
    const tasks = [];
    for (let i = 0; i < total; i++) {
      const pc = new PollClient(this.o, this.address(i));
      this.pollClients.push(pc);
      tasks.push(
        (async () => {
          const t0 = performance.now();
          if (t0 > tEnd) throw new Error('connect deadline');
          await pc.handshake();
          hist.add((performance.now() - t0) * 1000);
          pc.ok = true;
        })().catch((e) => {
          this.failures++;
          this.noteError(e.message);
        }),
      );
    }
    Promise.all(tasks).then(() => {
      this.post({
        ev: 'connected',
        connected: this.pollClients.filter((p) => p.ok).length,
        failed: this.failures,
        timedOut: false,
        tDone: epochNow(),
        hist: hist.toJSON(),
        errors: this.errorList(),
      });
    });
  }

  cmd_poll(msg) {
    const perfStart = msg.tStart - performance.timeOrigin;
    const perfEnd = msg.tEnd - performance.timeOrigin;
    const maxOps = Math.ceil(msg.maxOps / this.count);
    const hist = new Hist();
    let ops = 0;
    let cpu0 = null;
    const startCpu = setTimeout(() => {
      cpu0 = process.cpuUsage();
    }, Math.max(0, perfStart - performance.now()));
    const handshakeMode = this.o.mode === 'handshake';
    const body = `42[${JSON.stringify(this.o.event)},${echoPayloadJson(this.o.size)}]`;
    const replyPrefix = `42[${JSON.stringify(this.o.event)}`;
    if (handshakeMode) {
      this.pollClients = Array.from({ length: this.nClients }, (_, i) => new PollClient(this.o, this.address(i)));
    }
    const clients = handshakeMode ? this.pollClients : this.pollClients.filter((p) => p.ok);
    const loop = async (pc) => {
      while (performance.now() < perfEnd && ops < maxOps) {
        const t0 = performance.now();
        if (handshakeMode) await pc.handshake();
        else await pc.roundTrip(body, replyPrefix);
        const t1 = performance.now();
        if (t1 >= perfStart && t1 <= perfEnd) {
          hist.add((t1 - t0) * 1000);
          ops++;
        }
        if (handshakeMode) await pc.close();
      }
    };
    Promise.all(
      clients.map((pc) =>
        loop(pc).catch((e) => {
          this.noteError(e.message);
          this.dropped++;
        }),
      ),
    ).then(() => {
      clearTimeout(startCpu);
      const cpu = process.cpuUsage(cpu0 || undefined);
      this.post({
        ev: 'echoDone',
        ops,
        tEnd: epochNow(),
        truncated: ops >= maxOps,
        hist: hist.toJSON(),
        clientCpuUs: cpu0 ? cpu.user + cpu.system : null,
        dropped: this.dropped,
        errors: this.errorList(),
      });
    });
  }

  async cmd_close() {
    for (const c of this.clients) c.close();
    if (this.pollClients) {
      await Promise.all(this.pollClients.map((p) => p.close()));
      for (const p of this.pollClients) p.dispose();
    }
    this.post({ ev: 'closed' });
  }
}

module.exports = { Worker };
