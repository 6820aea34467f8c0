// expressjs/cors in front of a small reverse proxy: the `express` peer of the conformance
// matrix (`cors-peer launch express` renders config.json per profile and starts this file).
//
// usage: node server.js CONFIG.json   (with express and cors installed next to it, see
// scripts/install-peers.sh); prints `listening on http://ADDR`.
//
// The proxy copies the upstream's header lines onto the response the way node-http-proxy does
// (`setHeader`, so an upstream header replaces one the middleware set), except `Vary`, whose
// tokens are appended as express's own `res.vary()` does.
'use strict';

const fs = require('fs');
const http = require('http');
const express = require('express');
const cors = require('cors');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const upstream = new URL(config.upstream);

// `true` reflects the request's origin, '*' sends `*`, a list holds strings and RegExps.
const origin = Array.isArray(config.origin)
  ? config.origin.map((entry) => (entry.regex ? new RegExp(entry.regex) : entry.exact))
  : config.origin;
const options = { origin, credentials: config.credentials };
if (config.methods) options.methods = config.methods;
if (config.allowedHeaders) options.allowedHeaders = config.allowedHeaders;
if (config.exposedHeaders) options.exposedHeaders = config.exposedHeaders;
if (config.maxAge !== undefined && config.maxAge !== null) options.maxAge = config.maxAge;

const app = express();
app.disable('x-powered-by');
app.use(cors(options));
app.use((req, res) => {
  const proxied = http.request(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.originalUrl,
      headers: req.rawHeaders,
    },
    (answer) => {
      res.status(answer.statusCode);
      for (let i = 0; i < answer.rawHeaders.length; i += 2) {
        const name = answer.rawHeaders[i];
        const value = answer.rawHeaders[i + 1];
        const lower = name.toLowerCase();
        if (lower === 'vary') {
          res.vary(value);
        } else if (lower !== 'connection' && lower !== 'transfer-encoding' && lower !== 'keep-alive') {
          const previous = answer.rawHeaders.slice(0, i).filter((n, j) => j % 2 === 0 && n.toLowerCase() === lower);
          if (previous.length > 0) {
            res.appendHeader(name, value);
          } else {
            res.setHeader(name, value);
          }
        }
      }
      answer.pipe(res);
    },
  );
  proxied.on('error', (error) => {
    res.status(502).end(`upstream error: ${error.message}\n`);
  });
  req.pipe(proxied);
});

const server = app.listen(config.port, '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening on http://${address.address}:${address.port}`);
});
