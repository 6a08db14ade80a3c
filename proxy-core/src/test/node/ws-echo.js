// A WebSocket echo server on 127.0.0.1:PORT with the 'ws' library: every message goes back as it came, in order.
// usage: node ws-echo.js PORT      (0: a free port; prints "listening PORT" once it accepts)
const { WebSocketServer } = require('ws');
const port = Number(process.argv[2]);
const wss = new WebSocketServer({ host: '127.0.0.1', port });
wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
wss.on('listening', () => console.log('listening ' + wss.address().port));
