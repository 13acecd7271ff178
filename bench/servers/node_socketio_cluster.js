'use strict';
// Peer: Node's socket.io 4.8 in cluster mode, the Node way to use several cores on one port:
// a primary process that owns the port and hands each connection to a worker
// (@socket.io/sticky: the requests of one session always reach the same worker, since
// Node's workers cannot serve each other's sessions), and @socket.io/cluster-adapter so
// that a broadcast reaches the clients of every worker (over the cluster's IPC channel).
//   node servers/node_socketio_cluster.js --host 127.0.0.1 --port 5000   (2 workers)
// NODE_CLUSTER_WORKERS=N changes the number of workers. The handlers are those of
// node_socketio.js. The primary listens once every worker is set up.
const cluster = require('cluster');
const http = require('http');
const { Server } = require('socket.io');
const { setupMaster, setupWorker } = require('@socket.io/sticky');
const { createAdapter, setupPrimary } = require('@socket.io/cluster-adapter');
const serverArgs = require('./_args');

const { host, port } = serverArgs(process.argv.slice(2));
const workers = Number(process.env.NODE_CLUSTER_WORKERS || 2);

if (cluster.isPrimary) {
  const httpServer = http.createServer();
  setupMaster(httpServer, { loadBalancingMethod: 'least-connection' });
  setupPrimary();
  cluster.setupPrimary({ serialization: 'advanced' });
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', (m) => {
      if (m === 'ready' && ++ready === workers) {
        httpServer.listen(port, host, () =>
          console.log(`node socket.io ${require('socket.io/package.json').version} cluster of ${workers} on ${host}:${port}`),
        );
      }
    });
  }
  const stop = () => {
    for (const w of Object.values(cluster.workers)) w.kill();
    process.exit(0);
  };
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, stop);
} else {
  // Not listening: the primary hands it the connections.
  const io = new Server(http.createServer(), { serveClient: false, perMessageDeflate: false });
  io.adapter(createAdapter());
  setupWorker(io);
  io.on('connection', (socket) => {
    socket.on('echo', (data) => socket.emit('echo', data));
    socket.on('aecho', async (data) => socket.emit('aecho', data));
    socket.on('echo_ack', (data, ack) => ack(data));
    socket.on('aecho_ack', async (data, ack) => ack(data));
    socket.on('start_broadcast', (opts) => {
      const payload = 'x'.repeat(opts.size | 0);
      for (let i = 0; i < (opts.count | 0); i++) io.emit('bcast', payload);
    });
  });
  process.send('ready');
}
