'use strict';
// Peer: Node's socket.io 4.8 server with the benchmark handlers.
//   node servers/node_socketio.js --host 127.0.0.1 --port 5000
// "echo"/"echo_ack" are plain functions, "aecho"/"aecho_ack" async functions (the `def` and
// `async def` variants of the Python servers); "start_broadcast" emits {count} messages of
// {size} characters to every client. With --redis URL (and --channel KEY) it is one process of
// a cluster on @socket.io/redis-adapter (the `redis` client).
const http = require('http');
const { Server } = require('socket.io');
const serverArgs = require('./_args');

const { host, port, redis, channel } = serverArgs(process.argv.slice(2));
const httpServer = http.createServer();
const io = new Server(httpServer, { serveClient: false, perMessageDeflate: false });
const ready = redis ? useRedis(redis, channel) : Promise.resolve();

async function useRedis(url, key) {
  const { createAdapter } = require('@socket.io/redis-adapter');
  const { createClient } = require('redis');
  const pub = createClient({ url });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub, { key }));
}

io.on('connection', (socket) => {
  socket.on('echo', (data) => {
    socket.emit('echo', data);
  });
  socket.on('aecho', async (data) => {
    socket.emit('aecho', data);
  });
  socket.on('echo_ack', (data, ack) => {
    ack(data);
  });
  socket.on('aecho_ack', async (data, ack) => {
    ack(data);
  });
  socket.on('start_broadcast', (opts) => {
    const payload = 'x'.repeat(opts.size | 0);
    for (let i = 0; i < (opts.count | 0); i++) io.emit('bcast', payload);
  });
});

// The polling handshake cases connect here: a connection listener of each kind.
io.of('/cdef').on('connection', (socket) => {});
io.of('/casync').on('connection', async (socket) => {});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
ready.then(() =>
  httpServer.listen(port, host, () => console.log(`node socket.io ${require('socket.io/package.json').version} on ${host}:${port}`)),
);
