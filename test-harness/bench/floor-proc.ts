/**
 * One process of the relay-floor measurement (floor.ts), by role:
 *   source PORT N          an HTTP server answering each GET with N SSE chunks of ~300 bytes, one per millisecond
 *   pipe PORT SOURCE       a TCP proxy: each accepted socket piped both ways to SOURCE (no HTTP)
 *   relay PORT SOURCE      an HTTP relay: undici request to SOURCE, its body piped to the response
 *   admit PORT             the least an admission can do: each POST's JSON body read, parsed and kept (a queue
 *                          that never drains), answered 202 with a body the size of orchestratord's
 * Each prints `listening` once it listens; the parent stops it by pid.
 */
import { createServer } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';
import { Agent, request } from 'undici';

const [role, portText, other] = process.argv.slice(2);
const port = Number(portText);
const chunk = `data: ${JSON.stringify({
  choices: [{ index: 0, delta: { content: ' token' }, finish_reason: null }],
  created: 1,
  id: 'chatcmpl-0123456789abcdef',
  model: 'demo',
  object: 'chat.completion.chunk',
  timings: { prompt_n: 12, predicted_n: 5, predicted_per_second: 1000 },
})}\n\n`;

const listening = (): void => {
  process.stdout.write('listening\n');
};

if (role === 'source') {
  const count = Number(other);
  createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let sent = 0;
    const timer = setInterval(() => {
      res.write(chunk);
      sent += 1;
      if (sent === count) {
        clearInterval(timer);
        res.end();
      }
    }, 1);
  }).listen(port, '127.0.0.1', listening);
} else if (role === 'pipe') {
  createTcpServer((client) => {
    const upstream = connect(Number(other), '127.0.0.1');
    client.pipe(upstream);
    upstream.pipe(client);
  }).listen(port, '127.0.0.1', listening);
} else if (role === 'relay') {
  const agent = new Agent();
  createServer((_req, res) => {
    void request(`http://127.0.0.1:${other}/`, { dispatcher: agent }).then((answer) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      answer.body.pipe(res);
    });
  }).listen(port, '127.0.0.1', listening);
} else if (role === 'admit') {
  const queue: unknown[] = [];
  createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (data: string) => (body += data));
    req.on('end', () => {
      const task = JSON.parse(body) as { task_id: string };
      queue.push(task);
      const answer = JSON.stringify({
        task_id: task.task_id,
        queue_position: queue.length - 1,
        predicted_start_ms: 0,
        streams: { sse: `/v2/tasks/${task.task_id}/events` },
      });
      res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
      res.end(answer);
    });
  }).listen(port, '127.0.0.1', listening);
} else {
  throw new Error(`unknown role ${role}`);
}
