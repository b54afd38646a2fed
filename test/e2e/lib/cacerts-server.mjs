// The k3s server's join endpoint as the join preflight sees it: HTTPS with the cluster CA,
// GET /cacerts returns the CA bundle whose sha256 a K10 token carries. Runs inside the test netns.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [host, port, certFile, keyFile, caFile] = process.argv.slice(2);
const ca = readFileSync(caFile);
const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
  if (req.method === 'GET' && req.url === '/cacerts') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(ca);
    return;
  }
  res.writeHead(401, { 'content-type': 'application/json' });
  res.end('{"kind":"Status","status":"Failure","code":401}');
});
server.listen(Number(port), host, () => console.log(`cacerts server on ${host}:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
