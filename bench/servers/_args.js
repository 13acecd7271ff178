'use strict';
// --host H --port P [--redis URL --channel KEY] for the Node servers of the benchmark suite.
module.exports = function serverArgs(argv) {
  const o = { host: '127.0.0.1', port: 5000, redis: '', channel: 'socket.io' };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in o) || argv[i + 1] === undefined) throw new Error(`usage: --host H --port P [--redis URL --channel KEY] (got ${argv[i]})`);
    o[k] = k === 'port' ? Number(argv[i + 1]) : argv[i + 1];
  }
  return o;
};
