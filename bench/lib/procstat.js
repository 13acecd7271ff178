'use strict';
// Readings from /proc that say who set the pace of a measured window: how much of its CPU the
// server used, how long it waited for a CPU it wanted (other processes on a shared machine),
// and the same for the load generator. A rate is the server's only when the server was busy
// (running or waiting to run) for the whole window; otherwise the load generator, or the
// latency of a closed loop, set it.
//
// CPU and wait times come from /proc/<pid>/task/<tid>/schedstat (nanoseconds, every thread:
// time on a CPU, time runnable but waiting for one), not from the 10 ms ticks of
// /proc/<pid>/stat. Per-CPU totals come from /proc/stat (ticks, every process and interrupt).

const fs = require('fs');

const pidList = (pids) => String(pids || '').split(',').filter(Boolean);

// `pids` and every process below them: a server of several processes (run(workers=N), Node's
// cluster mode, gunicorn) is started as one pid whose children do the work, and what it
// costs is the sum over all of them.
function withDescendants(pids) {
  const children = new Map();
  let entries;
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
    } catch {
      continue; // ended meanwhile
    }
    // the command name, in parentheses, may hold spaces: the fields after its last ")"
    const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(name);
  }
  const out = [];
  const todo = [...pids];
  while (todo.length) {
    const pid = todo.shift();
    out.push(pid);
    for (const child of children.get(pid) || []) todo.push(child);
  }
  return out;
}

// [run ns, wait ns] summed over every thread of one process, or null if it is gone
function processSched(pid) {
  let tids;
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  let run = 0;
  let wait = 0;
  for (const tid of tids) {
    try {
      const f = fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ');
      run += Number(f[0]);
      wait += Number(f[1]);
    } catch {
      // a thread that ended between the listing and the read: its time is lost (tiny)
    }
  }
  return [run, wait];
}

// { run, wait } in ns summed over the processes `pids` (comma-separated) and their
// descendants, or null
function schedOf(pids) {
  const list = withDescendants(pidList(pids));
  if (!list.length) return null;
  let run = 0;
  let wait = 0;
  for (const pid of list) {
    const s = processSched(pid);
    if (s === null) return null;
    run += s[0];
    wait += s[1];
  }
  return { run, wait };
}

function cpuSet(spec) {
  const out = [];
  for (const part of String(spec || '').split(',').filter(Boolean)) {
    const [lo, hi] = part.split('-').map(Number);
    for (let c = lo; c <= (Number.isFinite(hi) ? hi : lo); c++) out.push(c);
  }
  return out;
}

// { busy, total } ticks of /proc/stat summed over the CPUs `cpus` (idle and iowait are idle)
function cpuTicks(cpus) {
  if (!cpus.length) return null;
  let text;
  try {
    text = fs.readFileSync('/proc/stat', 'latin1');
  } catch {
    return null;
  }
  const want = new Set(cpus.map((c) => `cpu${c}`));
  let busy = 0;
  let total = 0;
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (!want.has(f[0])) continue;
    // user nice system idle iowait irq softirq steal (guest time is inside user already)
    const v = f.slice(1, 9).map(Number);
    const t = v.reduce((a, b) => a + b, 0);
    total += t;
    busy += t - v[3] - v[4];
  }
  return { busy, total };
}

// A reading at one instant; `who` = { serverPids, genPids, serverCpus, genCpus }
function snapshot(who, now) {
  return {
    t: now(),
    srv: schedOf(who.serverPids),
    gen: schedOf(who.genPids),
    scpu: cpuTicks(who.serverCpus),
    gcpu: cpuTicks(who.genCpus),
  };
}

const r3 = (v) => (v === null || !Number.isFinite(v) ? null : Math.round(v * 1000) / 1000);

// The fields a result reports for the window between two snapshots: fractions of the CPUs
// each side was pinned to (1 = one whole CPU each), and the server's CPU seconds.
function windowFields(a, b, who) {
  const secs = (b.t - a.t) / 1000;
  const nS = Math.max(1, who.serverCpus.length);
  const nG = Math.max(1, who.genCpus.length);
  const frac = (x, y, k, n) => (x && y && secs > 0 ? (y[k] - x[k]) / 1e9 / secs / n : null);
  const busy = (x, y) => (x && y && y.total > x.total ? (y.busy - x.busy) / (y.total - x.total) : null);
  const serverCpu = frac(a.srv, b.srv, 'run', nS);
  const genCpu = frac(a.gen, b.gen, 'run', nG);
  // time on a side's CPUs not charged to that side: other processes, interrupts
  const other = (x, y, own) => {
    const all = busy(x, y);
    return all === null || own === null ? null : r3(Math.max(0, all - own));
  };
  return {
    server_cpu_s: a.srv && b.srv ? r3((b.srv.run - a.srv.run) / 1e9) : null,
    server_cpu_util: r3(serverCpu),
    server_wait_util: r3(frac(a.srv, b.srv, 'wait', nS)),
    gen_cpu_util: r3(genCpu),
    gen_wait_util: r3(frac(a.gen, b.gen, 'wait', nG)),
    server_cpus_other_util: other(a.scpu, b.scpu, serverCpu),
    gen_cpus_other_util: other(a.gcpu, b.gcpu, genCpu),
  };
}

// the server's resident memory, KiB: `pids` is one pid, or several comma-separated (the
// processes of a cluster), summed
function sumOverPids(pids, read) {
  const list = withDescendants(pidList(pids));
  if (!list.length) return null;
  let total = 0;
  for (const pid of list) {
    const v = read(pid);
    if (v === null) return null;
    total += v;
  }
  return total;
}

function serverRssKiB(pids) {
  return sumOverPids(pids, (pid) => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  });
}

module.exports = { schedOf, cpuSet, snapshot, windowFields, serverRssKiB };
