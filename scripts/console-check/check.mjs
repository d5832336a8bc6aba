// check.mjs — drives Bonsai's admin console in headless Chromium against a
// `switchboard serve --demo` server and checks every console page that
// concerns what Switchboard does. run.sh starts everything and calls it with
//   CONSOLE_URL  the served console (http://127.0.0.1:PORT)
//   API_URL      the Switchboard server
//   OUT          a directory for results.json and screenshots
//   CHROMIUM     the browser (default /usr/bin/chromium)
//
// For each page it records the API calls that failed (4xx/5xx, and CORS or
// network failures), the console's errors (console.error, uncaught
// exceptions) and whether the page's main content rendered (a text the page
// must show and, for lists, a minimum number of table rows). Then it checks
// the list features: a search box, a column sort, the conversations' status
// filter, archived projects. It prints a table and exits 1 when a page in
// scope (Switchboard's and the Bonsai-only empty pages) fails; pages out of
// scope (Playground, analytics) are reported, never fatal.
import puppeteer from 'puppeteer-core'
import fs from 'node:fs'
import path from 'node:path'

const CONSOLE = process.env.CONSOLE_URL
const API = process.env.API_URL
const OUT = process.env.OUT || '.'
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium'
if (!CONSOLE || !API) { console.error('check.mjs: CONSOLE_URL and API_URL are needed (run run.sh)'); process.exit(2) }
const SHOTS = path.join(OUT, 'shots')
fs.mkdirSync(SHOTS, { recursive: true })

const sleep = ms => new Promise(r => setTimeout(r, ms))
// withTimeout bounds any promise: the check never hangs on the browser.
const withTimeout = (p, ms, what) => Promise.race([p, sleep(ms).then(() => { throw new Error(`timeout after ${ms} ms: ${what}`) })])

// --- The demo's records, read through the API ------------------------------------
async function api(method, p, token, body) {
  const res = await fetch(API + p, {
    method,
    headers: { ...(token ? { Authorization: 'Bearer ' + token } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10000),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 200)}`)
  return text ? JSON.parse(text) : null
}
const login = await api('POST', '/api/auth/login', null, { id: 'demo', password: 'demo-password' })
const tok = login.accessToken
const project = (await api('GET', '/api/projects?limit=100', tok)).items.find(p => p.name === 'Switchboard demo')
if (!project) throw new Error('no demo project')
const P = project.id
const stage = (await api('GET', `/api/projects/${P}/stages`, tok)).items[0]
const providers = (await api('GET', '/api/providers', tok)).items
const llm = providers.find(p => p.providerType === 'llm')
const channel = providers.find(p => p.providerType === 'channel')
// The demo stage has the demo agent (Bonsai's stage editor requires one).
const agents = (await api('GET', `/api/projects/${P}/agents`, tok)).items
const agent = agents.find(a => a.id === stage.agentId)
if (!agent) throw new Error(`the demo stage has no agent (agentId ${stage.agentId})`)
// run.sh's last text (STOP) is handled asynchronously: wait (bounded) until
// its conversation has finished.
let convs = []
for (let i = 0; i < 50; i++) {
  convs = (await api('GET', `/api/projects/${P}/conversations`, tok)).items
  if (convs.some(c => c.status === 'finished')) break
  await sleep(200)
}
const users = (await api('GET', `/api/projects/${P}/users`, tok)).items
const audit = (await api('GET', '/api/audit-logs?limit=1', tok)).items[0]
const catalog = await api('GET', '/api/provider-catalog', null)
if (convs.length < 3 || users.length < 3) throw new Error(`want 3 demo conversations and users, have ${convs.length} and ${users.length}`)
const conv = convs[0]
const user = users.find(u => u.id === '+15550001111') || users[0]
const activeCount = convs.filter(c => c.status === 'awaiting_user_input').length
const finishedCount = convs.filter(c => c.status === 'finished').length
if (!finishedCount) throw new Error('want a finished demo conversation (run.sh has +15550004444 text STOP)')

// --- The browser --------------------------------------------------------------------
const browser = await puppeteer.launch({
  executablePath: CHROMIUM,
  headless: true,
  protocolTimeout: 30000,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--window-size=1400,1000'],
  defaultViewport: { width: 1400, height: 1000 },
})
// Whatever happens, the browser goes away and the run ends.
const hardStop = setTimeout(() => { console.error('check.mjs: 20 minutes passed, giving up'); browser.process()?.kill('SIGKILL'); process.exit(3) }, 1200000)
const page = await browser.newPage()
page.setDefaultTimeout(15000)
page.setDefaultNavigationTimeout(20000)
await page.setRequestInterception(true)
let cur = null
const external = new Set()
page.on('request', req => {
  const u = req.url()
  if (u.startsWith(CONSOLE) || u.startsWith(API) || u.startsWith('data:') || u.startsWith('blob:')) { req.continue(); return }
  // The console loads web fonts from Google; the check runs offline, so
  // every other host gets an empty answer (listed in results.json).
  external.add(new URL(u).host)
  req.respond({ status: 200, contentType: u.includes('css') ? 'text/css' : 'text/plain', body: '' })
})
page.on('console', m => { if (cur && m.type() === 'error') cur.console.push(m.text().slice(0, 300)) })
page.on('pageerror', e => { if (cur) cur.console.push('uncaught: ' + String(e).slice(0, 300)) })
page.on('requestfailed', r => {
  if (cur && r.url().startsWith(API)) cur.http.push(`${r.method()} ${r.url().slice(API.length)} ${r.failure()?.errorText || 'failed'}`)
})
page.on('response', r => {
  if (!cur || !r.url().startsWith(API)) return
  const req = r.request()
  const line = `${req.method()} ${decodeURIComponent(r.url().slice(API.length))} ${r.status()}`
  cur.calls.push(line)
  if (r.status() >= 400) cur.http.push(line)
})

async function settle() {
  try { await page.waitForNetworkIdle({ idleTime: 500, timeout: 8000 }) } catch {}
  await sleep(300)
}
// mainText is what the page shows in its main area, with the values of its
// inputs (a form's loaded data lives there, not in the text).
async function mainText() {
  return page.evaluate(() => {
    const m = document.querySelector('main') || document.body
    const inputs = [...m.querySelectorAll('input, textarea, select')].map(i => i.value).filter(Boolean)
    return (m.innerText + ' ' + inputs.join(' ')).replace(/\s+/g, ' ')
  })
}
// rowCount counts the data rows of the main table (not an empty-state row).
async function rowCount() {
  return page.evaluate(() => [...document.querySelectorAll('main table tbody tr')].filter(tr => tr.querySelectorAll('td').length > 1).length)
}
async function rowTexts() {
  return page.evaluate(() => [...document.querySelectorAll('main table tbody tr')].filter(tr => tr.querySelectorAll('td').length > 1).map(tr => tr.querySelector('td').innerText.trim()))
}
async function clickText(selector, re) {
  const ok = await page.evaluate((sel, src) => {
    const re = new RegExp(src, 'i')
    const el = [...document.querySelectorAll(sel)].find(e => e.offsetParent !== null && re.test(e.innerText.trim()))
    if (el) { el.click(); return true }
    return false
  }, selector, re.source)
  if (!ok) throw new Error(`no ${selector} reading ${re}`)
  await settle()
}

const results = []
// sent fails unless the page made a request matching re (method, path, status).
const sent = (rec, re) => { if (!rec.calls.some(c => re.test(c))) throw new Error(`no request matching ${re}`) }
const FAILING = /failed to load|failed to fetch|error loading|something went wrong|request failed/i
// check visits (or acts on) a page and records the outcome.
//   scope: 'switchboard' | 'bonsai-only' | 'out-of-scope'
//   want:  RegExp the main text must match; rows: minimum table rows;
//   act:   async (rec) => extra steps, throwing on failure.
async function check(name, scope, urlPath, { want, rows, act } = {}) {
  cur = { name, scope, path: urlPath, http: [], console: [], calls: [], problems: [] }
  try {
    if (urlPath) { await page.goto(CONSOLE + urlPath, { waitUntil: 'domcontentloaded' }); await settle() }
    if (act) await withTimeout(act(cur), 60000, name)
    const text = await mainText()
    cur.text = text.slice(0, 300)
    cur.finalPath = page.url().slice(CONSOLE.length)
    if (urlPath && cur.finalPath.startsWith('/login')) cur.problems.push('sent to the login page')
    if (want && !want.test(text)) cur.problems.push(`does not show ${want}`)
    if (FAILING.test(text)) cur.problems.push(`shows "${text.match(FAILING)[0]}"`)
    if (rows) { const n = await rowCount(); cur.rows = n; if (n < rows) cur.problems.push(`${n} table rows, want >= ${rows}`) }
  } catch (e) {
    cur.problems.push(String(e.message || e).slice(0, 200))
  }
  try { await page.screenshot({ path: path.join(SHOTS, name.replace(/[^a-z0-9]+/gi, '_') + '.png') }) } catch {}
  cur.rendered = !cur.problems.length
  cur.ok = cur.rendered && !cur.http.length && !cur.console.length
  results.push(cur)
  const r = cur; cur = null
  return r
}

// finish writes results.json, prints the table and exits: 1 when a check in
// scope failed.
async function finish() {
  clearTimeout(hardStop)
  await browser.close().catch(() => {})
  fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify({ external: [...external], results }, null, 1))
  const pad = (s, n) => String(s).padEnd(n).slice(0, n)
  console.log(`\n${pad('page', 38)} ${pad('scope', 12)} ${pad('rendered', 8)} ${pad('http', 4)} ${pad('cons', 4)} result`)
  for (const r of results) {
    const verdict = r.ok ? 'ok' : r.scope === 'out-of-scope' ? 'out of scope' : 'FAIL'
    console.log(`${pad(r.name, 38)} ${pad(r.scope, 12)} ${pad(r.rendered ? 'yes' : 'no', 8)} ${pad(r.http.length, 4)} ${pad(r.console.length, 4)} ${verdict}`)
  }
  const failed = results.filter(r => !r.ok && r.scope !== 'out-of-scope')
  for (const r of results.filter(r => !r.ok)) {
    console.log(`\n${r.name} (${r.scope}) ${r.path || ''}`)
    for (const p of r.problems) console.log(`  not rendered: ${p}`)
    for (const h of r.http) console.log(`  http: ${h}`)
    for (const c of r.console) console.log(`  console: ${c}`)
  }
  console.log(`\n${results.length} checks, ${failed.length} failing in scope; details in ${path.join(OUT, 'results.json')}, screenshots in ${SHOTS}`)
  process.exit(failed.length ? 1 : 0)
}

// --- Login ----------------------------------------------------------------------
await check('login', 'switchboard', '/login', {
  want: /Dashboard/,
  act: async () => {
    const inputs = await page.$$('input')
    await inputs[0].click({ clickCount: 3 }); await inputs[0].type('demo')
    await inputs[1].type('demo-password')
    await page.click('button[type="submit"]')
    await page.waitForFunction(() => !location.pathname.startsWith('/login'), { timeout: 15000 })
    await settle()
    const header = await page.evaluate(() => document.querySelector('header')?.innerText || '')
    if (!/Demo operator/.test(header)) throw new Error('header does not name the operator')
  },
})
// Without a login nothing else can work: stop here rather than time out on every page.
if (!results[0].ok) await finish()
await page.evaluate(p => localStorage.setItem('selectedProjectId', p), P)

const D = `/design/projects/${P}`
const pages = [
  // name, scope, path, expectations
  ['dashboard', 'switchboard', '/', { want: new RegExp(`${convs.length} Conversations.*${activeCount} Active ${finishedCount} Finished`) }],
  ['projects', 'switchboard', '/administration/projects', { want: /Switchboard demo/, rows: 1 }],
  ['project edit', 'switchboard', `/administration/projects/${P}`, { want: /Edit Project.*Switchboard demo/ }],
  ['project new', 'switchboard', '/administration/projects/new', { want: /Create Project/ }],
  ['agents', 'switchboard', `${D}/agents`, { want: new RegExp(agent.name), rows: 1 }],
  ['agent edit', 'switchboard', `${D}/agents/${agent.id}`, { want: new RegExp(`Edit Agent.*${agent.name}`) }],
  ['agent new', 'switchboard', `${D}/agents/new`, { want: /Create Agent/ }],
  ['stages', 'switchboard', `${D}/stages`, { want: new RegExp(stage.name), rows: 1 }],
  ['stage edit', 'switchboard', `${D}/stages/${stage.id}`, { want: new RegExp(`Edit Stage.*${stage.name}`) }],
  ['stage new', 'switchboard', `${D}/stages/new`, { want: /Create Stage/ }],
  ['conversations', 'switchboard', '/monitor/conversations', { want: /Awaiting User Input|awaiting/i, rows: convs.length }],
  ['conversation detail', 'switchboard', `/monitor/conversations/${conv.id}`, { want: /Conversation Started.*hi/ }],
  ['users', 'switchboard', '/monitor/users', { want: /\+15550001111/, rows: users.length }],
  ['user detail', 'switchboard', `/monitor/users/${encodeURIComponent(user.id)}`, { want: new RegExp(`\\${user.id}.*Conversations`) }],
  ['audit logs', 'switchboard', '/monitor/audit-logs', { rows: 1 }],
  ['audit log detail', 'switchboard', `/monitor/audit-logs/${audit.id}`, { want: new RegExp(audit.entityType || audit.action, 'i') }],
  ['api keys', 'switchboard', '/administration/api-keys', { want: /demo/, rows: 1 }],
  ['operators', 'switchboard', '/administration/operators', { want: /Demo operator/, rows: 1 }],
  ['operator edit', 'switchboard', '/administration/operators/demo', { want: /Edit Operator.*Demo operator/ }],
  ['operator new', 'switchboard', '/administration/operators/new', { want: /Create Operator/ }],
  ['providers', 'switchboard', '/administration/providers', { want: /Switchboard demo phone/, rows: 2 }],
  ['provider edit llm', 'switchboard', `/administration/providers/${llm.id}`, { want: new RegExp(`Edit Provider.*${llm.name}`) }],
  ['provider edit channel', 'switchboard', `/administration/providers/${channel.id}`, { want: new RegExp(`Edit Provider.*${channel.name}`) }],
  // Bonsai's features Switchboard does not have: an empty page, no error.
  ['classifiers', 'bonsai-only', `${D}/classifiers`, { want: /No classifiers/ }],
  ['classifier new', 'bonsai-only', `${D}/classifiers/new`, { want: /Create Classifier/ }],
  ['context transformers', 'bonsai-only', `${D}/context-transformers`, { want: /No context transformers/i }],
  ['tools', 'bonsai-only', `${D}/tools`, { want: /No tools/ }],
  ['tool new', 'bonsai-only', `${D}/tools/new`, { want: /Create Tool/ }],
  ['global actions', 'bonsai-only', `${D}/global-actions`, { want: /No global actions/i }],
  ['guardrails', 'bonsai-only', `${D}/guardrails`, { want: /Guardrails/ }],
  ['knowledge', 'bonsai-only', `${D}/knowledge`, { want: /No knowledge categories/ }],
  ['global memory', 'bonsai-only', `${D}/global-memory`, { want: /Global Memory/ }],
  ['sample copies', 'bonsai-only', `${D}/sample-copies`, { want: /Sample Cop/ }],
  ['issues', 'bonsai-only', '/monitor/issues', { want: /No issues/ }],
  ['environments', 'bonsai-only', '/administration/environments', { want: /No environments/ }],
  ['environment new', 'bonsai-only', '/administration/environments/new', { want: /Create Environment/ }],
  // Out of scope: Bonsai's WebSocket channel and analytics.
  ['playground', 'out-of-scope', `/playground/${P}`, {}],
  ['analytics latency', 'out-of-scope', '/monitor/analytics/latency', {}],
  ['analytics token usage', 'out-of-scope', '/monitor/analytics/token-usage', {}],
  ['analytics explore', 'out-of-scope', '/monitor/analytics/explore', {}],
  ['analytics funnels', 'out-of-scope', '/monitor/analytics/funnels', {}],
]
for (const [name, scope, p, opts] of pages) await check(name, scope, p, opts)

// --- Tabs ---------------------------------------------------------------------------
const historyTab = async () => { await clickText('button, a, [role=tab]', /^History$/) }
await check('conversation History tab', 'switchboard', `/monitor/conversations/${conv.id}`, { want: /Change Log|History/, act: historyTab })
await check('conversation Performance tab', 'out-of-scope', `/monitor/conversations/${conv.id}`, { act: async () => clickText('button, a, [role=tab]', /^Performance$/) })
// serve --demo records its records' creation as the API does.
await check('stage History tab', 'switchboard', `${D}/stages/${stage.id}`, { want: /Change Log.*CREATE/i, act: historyTab })
await check('provider History tab', 'switchboard', `/administration/providers/${llm.id}`, { want: /Change Log.*CREATE/i, act: historyTab })
await check('agent History tab', 'switchboard', `${D}/agents/${agent.id}`, { want: /Change Log.*CREATE/i, act: historyTab })

// --- Saving through the editors -----------------------------------------------------
async function saveName(rec, suffix, route) {
  const input = await page.$('main input[type="text"], main input:not([type])')
  await input.click(); await page.keyboard.press('End'); await input.type(suffix)
  await clickText('main button', /^Save Changes$/)
  sent(rec, new RegExp(`^PUT ${route} 200$`))
}
await check('project editor: save', 'switchboard', `/administration/projects/${P}`, { act: rec => saveName(rec, ' (edited)', `/api/projects/${P}`) })
await check('agent editor: save', 'switchboard', `${D}/agents/${agent.id}`, { act: rec => saveName(rec, ' (edited)', `/api/projects/${P}/agents/${agent.id}`) })
// Bonsai's stage editor requires an agent: the demo stage has one, so it
// saves as it is.
await check('stage editor: save', 'switchboard', `${D}/stages/${stage.id}`, { act: rec => saveName(rec, ' (edited)', `/api/projects/${P}/stages/${stage.id}`) })

// --- Provider forms: one per apiType of the catalog ---------------------------------
// scripted has no console form (README): it is reported, not required.
for (const [ptype, entries] of [['llm', catalog.llm], ['channel', catalog.channel]]) {
  for (const entry of entries) {
    const scope = entry.apiType === 'scripted' ? 'out-of-scope' : 'switchboard'
    await check(`provider form ${ptype}/${entry.apiType}`, scope, '/administration/providers/new', {
      act: async (rec) => {
        const selects = await page.$$('main select')
        if (selects.length < 2) throw new Error('no provider type and API type selects')
        await page.evaluate((s, v) => { s.value = v; s.dispatchEvent(new Event('change')) }, selects[0], ptype)
        await sleep(300)
        const apiSel = (await page.$$('main select'))[1]
        const offered = await page.evaluate(s => [...s.options].map(o => o.value), apiSel)
        if (!offered.includes(entry.apiType)) throw new Error(`API Type list lacks ${entry.apiType}`)
        await page.evaluate((s, v) => { s.value = v; s.dispatchEvent(new Event('change')) }, apiSel, entry.apiType)
        await sleep(300)
        await clickText('button, a, [role=tab]', /^Configuration$/)
        rec.fields = await page.evaluate(() => [...document.querySelectorAll('main fieldset input, main fieldset textarea, main fieldset select')].filter(e => e.offsetParent !== null).length)
        if (!rec.fields) throw new Error('the Configuration tab has no fields')
      },
    })
  }
}

// --- List features --------------------------------------------------------------------
async function search(placeholder, text) {
  const input = await page.$(`main input[placeholder^="${placeholder}"]`)
  if (!input) throw new Error(`no search box "${placeholder}"`)
  await input.click({ clickCount: 3 })
  await input.type(text)
  await sleep(700) // the console debounces typing
  await settle()
}
await check('search: users', 'switchboard', '/monitor/users', {
  act: async (rec) => {
    await search('Search', '0002222')
    sent(rec, /users\?.*textSearch=0002222.* 200$/)
    const rows = await rowTexts()
    if (rows.length !== 1 || !rows[0].includes('+15550002222')) throw new Error(`rows after search: ${JSON.stringify(rows)}`)
  },
})
await check('search: providers', 'switchboard', '/administration/providers', {
  act: async (rec) => {
    await search('Search', 'phone')
    sent(rec, /providers\?.*textSearch=phone.* 200$/)
    const rows = await rowTexts()
    if (rows.length !== 1 || !rows[0].includes('phone')) throw new Error(`rows after search: ${JSON.stringify(rows)}`)
  },
})
await check('sort: providers by name', 'switchboard', '/administration/providers', {
  act: async (rec) => {
    const orders = []
    for (let i = 0; i < 2; i++) {
      await clickText('main th', /^Name$/)
      orders.push(await rowTexts())
    }
    sent(rec, /providers\?.*orderBy=-?name.* 200$/)
    const asc = [...orders[0]].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()))
    const both = [JSON.stringify(asc), JSON.stringify([...asc].reverse())]
    if (!both.includes(JSON.stringify(orders[0])) || !both.includes(JSON.stringify(orders[1])) || JSON.stringify(orders[0]) === JSON.stringify(orders[1]))
      throw new Error(`orders after two clicks: ${JSON.stringify(orders)}`)
  },
})
await check('filter: conversations by status', 'switchboard', '/monitor/conversations', {
  act: async (rec) => {
    await clickText('main button', /^All Statuses$/)
    await clickText('button', /^Finished$/)
    sent(rec, /conversations\?.*filters\[status\]\[value\]=finished.* 200$/)
    const finished = await rowCount()
    await clickText('main button', /^Finished$/)
    await clickText('button', /^Awaiting User Input$/)
    sent(rec, /conversations\?.*filters\[status\]\[value\]=awaiting_user_input.* 200$/)
    const waiting = await rowCount()
    if (finished !== finishedCount || waiting !== activeCount) throw new Error(`finished ${finished}, awaiting ${waiting}; want ${finishedCount} and ${activeCount}`)
  },
})
await check('archived projects', 'switchboard', '/administration/projects', {
  act: async (rec) => {
    const sel = await page.$('main select')
    await page.evaluate(s => { const o = [...s.options].find(o => o.text.trim() === 'Archived'); s.value = o.value; s.dispatchEvent(new Event('change')) }, sel)
    await settle()
    sent(rec, /projects\?.*archived=true.* 200$/)
    const archived = await rowCount()
    await page.evaluate(s => { const o = [...s.options].find(o => o.text.trim() === 'Active'); s.value = o.value; s.dispatchEvent(new Event('change')) }, sel)
    await settle()
    const active = await rowCount()
    if (archived !== 0 || active < 1) throw new Error(`archived ${archived} rows, active ${active}`)
  },
})

// --- Profile and session --------------------------------------------------------------
await check('profile: edit and save', 'switchboard', '/', {
  act: async (rec) => {
    await clickText('header button', /Demo operator/)
    await clickText('button, a', /^Edit Profile$/)
    const values = await page.evaluate(() => [...document.querySelectorAll('input')].map(i => i.value))
    if (!values.includes('Demo operator')) throw new Error(`the profile form lacks the name: ${JSON.stringify(values)}`)
    const name = await page.evaluateHandle(() => [...document.querySelectorAll('input')].find(i => i.value === 'Demo operator'))
    await name.click(); await page.keyboard.press('End'); await name.type(' (checked)')
    await clickText('button', /^(Save|Save Changes|Update)/)
    sent(rec, /^POST \/api\/profile 200$/)
  },
})
await check('reload keeps the session', 'switchboard', '/monitor/conversations', {
  rows: convs.length,
  act: async (rec) => {
    await page.reload({ waitUntil: 'domcontentloaded' }); await settle()
    sent(rec, /^GET \/api\/profile 200$/)
  },
})
for (const i of [1, 2]) {
  await check(`token refresh ${i}`, 'switchboard', null, {
    want: /Switchboard demo/,
    act: async (rec) => {
      // An access token the server refuses: the console refreshes with its
      // (first, kept) refresh token and repeats the request.
      await page.evaluate(() => localStorage.setItem('accessToken', 'expired-token'))
      await page.goto(CONSOLE + '/administration/projects', { waitUntil: 'domcontentloaded' }); await settle()
      sent(rec, /^POST \/api\/auth\/refresh 200$/)
      // The one expected failure: the refused token.
      rec.http = rec.http.filter(l => !/ 401$/.test(l))
      rec.console = rec.console.filter(l => !/401/.test(l))
    },
  })
}

await finish()
