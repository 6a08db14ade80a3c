// The clients of a test fleet: node fleet-clients.js BALANCER_PORT COUNT ADDRESS_PREFIX TRANSPORTS
// COUNT socket.io clients, client i from address PREFIX.(i+1) (its own http.Agent and WebSocket bound there), each
// reconnecting on its own when its connection ends (socket.io's default back-off, shortened) and sending an 'echo'
// every 200 ms, checking that the answer comes back and which server sent it.
// Prints "connected N" once every client is connected (and upgraded, with polling first), then, on the line
// "report" on stdin, one line per client: "client ADDRESS backends=B1,B2,... disconnects=N at=T1,... echoes=N wrong=N"
// (wrong: an echo answered by another server than the one that said hello on that connection), then "end".
const http = require('http');
const { io } = require('socket.io-client');
const [port, count, prefix, transports] = [+process.argv[2], +process.argv[3], process.argv[4], process.argv[5]];
const clients = [];
let announced = false;
for (let i = 0; i < count; i++) {
  const address = prefix + '.' + (i + 1);
  const c = { address, backends: [], disconnects: 0, at: [], echoes: 0, wrong: 0, current: null, ready: false };
  clients.push(c);
  const socket = io('http://127.0.0.1:' + port, {
    transports: transports.split(','),
    // no keep-alive: each polling request on its own connection, so that once upgraded a client holds one session
    agent: new http.Agent({ localAddress: address, keepAlive: false }),
    localAddress: address,
    reconnectionDelay: 300,
    reconnectionDelayMax: 1000,
    randomizationFactor: 0.5,
  });
  socket.on('hello', (name) => { c.current = name; c.backends.push(name); check(); });
  socket.on('connect', () => {
    const upgraded = () => { c.ready = true; check(); };
    if (socket.io.engine.transport.name === 'websocket') upgraded();
    else socket.io.engine.once('upgrade', upgraded);
  });
  socket.on('disconnect', () => { c.disconnects++; c.at.push(Date.now()); c.ready = false; c.current = null; });
  let n = 0;
  setInterval(() => {
    if (!socket.connected || c.current === null) return;
    const expected = c.current;
    socket.timeout(5000).emit('echo', n++, (err, reply) => {
      if (err) return; // a connection cut by a move: judged by the test from the backends list
      c.echoes++;
      if (reply.backend !== expected && c.current === expected) c.wrong++;
    });
  }, 200);
}
function check() {
  if (!announced && clients.every((c) => c.ready && c.current !== null)) {
    announced = true;
    console.log('connected ' + clients.length);
  }
}
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'report') return;
  for (const c of clients) {
    console.log('client ' + c.address + ' backends=' + c.backends.join(',') + ' disconnects=' + c.disconnects
      + ' at=' + c.at.join(',') + ' echoes=' + c.echoes + ' wrong=' + c.wrong + ' ready=' + c.ready);
  }
  console.log('end');
});
