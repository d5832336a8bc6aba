// static.mjs DIST PORT API_URL — serves a built bonsai-console (Vite's dist/)
// on 127.0.0.1:PORT for the console check, as a single-page app: any path
// that is not a file answers index.html. The console's API address is baked
// into its bundle at build time (VITE_API_BASE_URL, default
// http://localhost:3000); this server rewrites that default to API_URL in
// the JavaScript it serves, so one build works against a server on any port.
import http from 'node:http'
import fs from 'node:fs'
import path from 'node:path'

const [dist, port, apiURL] = process.argv.slice(2)
if (!dist || !port || !apiURL) {
  console.error('usage: node static.mjs DIST PORT API_URL')
  process.exit(2)
}
const root = path.resolve(dist)
const types = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon',
  '.json': 'application/json', '.woff': 'font/woff', '.woff2': 'font/woff2', '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8', '.map': 'application/json',
}

http.createServer((req, res) => {
  let rel
  try { rel = decodeURIComponent(new URL(req.url, 'http://x').pathname) } catch { res.writeHead(400).end(); return }
  let file = path.join(root, rel)
  if (!file.startsWith(root)) { res.writeHead(403).end(); return }
  if (!fs.existsSync(file) || fs.statSync(file).isDirectory()) {
    // A missing asset is a 404 (a broken build shows as one); a route is the app.
    if (/\.[a-z0-9]+$/i.test(rel) && !rel.endsWith('.html')) { res.writeHead(404).end(); return }
    file = path.join(root, 'index.html')
  }
  const ext = path.extname(file)
  let body = fs.readFileSync(file)
  if (ext === '.js' || ext === '.mjs') body = Buffer.from(body.toString('utf8').replaceAll('http://localhost:3000', apiURL))
  res.writeHead(200, { 'Content-Type': types[ext] || 'application/octet-stream', 'Cache-Control': 'no-store' })
  res.end(body)
}).listen(Number(port), '127.0.0.1', () => console.log(`console on http://127.0.0.1:${port} -> API ${apiURL}`))
