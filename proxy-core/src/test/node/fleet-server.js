// A socket.io server of a test fleet: node fleet-server.js NAME PORT (0: a free port, printed in the 'listening' line).
// Says its name to each client, acknowledges every 'echo' with its name, and counts the requests engine.io refused
// because their session id is unknown here — what a client's request that lands on the wrong server gets.
// GET /stats answers {"name", "connections", "sessionUnknown"}.
const http = require('http');
const { Server } = require('socket.io');
const [name, port] = [process.argv[2], +process.argv[3]];
let connections = 0;
let sessionUnknown = 0;
const srv = http.createServer((req, res) => {
  if (req.url === '/stats') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ name, connections, sessionUnknown }));
  }
});
const io = new Server(srv, { pingInterval: 2000, pingTimeout: 5000 });
io.engine.on('connection_error', (err) => { if (err.code === 1) sessionUnknown++; });
io.on('connection', (socket) => {
  connections++;
  socket.emit('hello', name);
  socket.on('echo', (msg, ack) => ack({ backend: name, msg }));
});
srv.listen(port, '127.0.0.1', () => console.log('listening ' + name + ' ' + srv.address().port));
