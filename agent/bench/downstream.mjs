// The second local service the realistic route calls: plain Node http, no agent, shared by all variants.
import { createServer } from 'node:http';

const body = JSON.stringify({ amount: 42 });
createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}).listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.('ready'));
