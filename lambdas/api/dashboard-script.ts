// The dashboard page's script (dashboard-page.ts embeds it): plain browser JavaScript, kept in a
// raw string so the API serves it as is. It builds HTML from escaped strings only (esc), reads
// the JSON API, and keeps every selection in the URL's hash.
export const DASHBOARD_SCRIPT = String.raw`
const COLORS = { PENDING: '#9aa5b1', QUEUED: '#2186eb', WAITING: '#8e7cc3', RUNNING: '#f0b429', SUCCEEDED: '#3ebd93',
  FAILED: '#e12d39', SKIPPED: '#cbd2d9', CANCELLED: '#616e7c', COMPLETED: '#3ebd93', CANCELLING: '#616e7c', COMPENSATING: '#d64545' };
const FINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
const ALL = '*';
const el = (id) => document.getElementById(id);
// A large input or output is a link (GET /runs/{id} carries it only up to its budget).
const link = (ref) => '<p>' + ref.bytes + ' bytes, stored apart: <a href="' + esc(ref.href) + '" target="_blank" rel="noopener">open</a></p>';
const esc = (text) => String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const badge = (status) => '<span class="status" style="background:' + (COLORS[status] || '#333') + '">' + esc(status) + '</span>';
const json = (value) => '<pre>' + esc(JSON.stringify(value, null, 2)) + '</pre>';
const time = (iso) => (iso ? esc(iso.slice(0, 23).replace('T', ' ')) : '-');

function ms(value) {
  if (value === undefined || value === null) return '-';
  if (value < 1000) return Math.round(value) + ' ms';
  if (value < 60000) return (value / 1000).toFixed(1) + ' s';
  return Math.floor(value / 60000) + ' min ' + Math.round((value % 60000) / 1000) + ' s';
}
const elapsed = (from, to) => (from ? (to ? Date.parse(to) : Date.now()) - Date.parse(from) : undefined);

class ApiError extends Error { constructor(status, message) { super(message); this.status = status; } }
async function api(path, options) {
  const response = await fetch(path, options);
  const text = await response.text();
  const body = text === '' ? undefined : JSON.parse(text);
  if (!response.ok) throw new ApiError(response.status, (body && body.error && body.error.message) || path + ': ' + response.status);
  return body;
}
const post = (path, body) => api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body === undefined ? {} : body) });

// ---- state and the link ------------------------------------------------------------------
const state = { workflowId: null, runId: null, taskId: null, tab: 'graph', status: '', nextToken: null, paged: false,
  run: null, history: null, stats: null, layouts: new Map(), missingRun: null, versionStats: new Map() };

function readLink() {
  const link = new URLSearchParams(location.hash.slice(1));
  state.workflowId = link.get('workflow');
  state.runId = link.get('run');
  state.taskId = link.get('task');
  state.tab = link.get('tab') || 'graph';
  state.status = link.get('status') || '';
}
function writeLink() {
  const link = new URLSearchParams();
  if (state.workflowId) link.set('workflow', state.workflowId);
  if (state.status) link.set('status', state.status);
  if (state.runId) link.set('run', state.runId);
  if (state.taskId) link.set('task', state.taskId);
  if (state.tab !== 'graph') link.set('tab', state.tab);
  const hash = '#' + link.toString();
  if (location.hash !== hash) history.replaceState(null, '', hash);
}

// ---- workflows and runs --------------------------------------------------------------------
async function loadWorkflows() {
  const { workflows } = await api('/workflows');
  const item = (id, label) => '<button class="item' + (id === state.workflowId ? ' selected' : '') + '" data-workflow="' + esc(id) + '">' + label + '</button>';
  el('workflows').innerHTML = (workflows.length === 0 ? 'none registered' : item(ALL, '<em>all workflows</em>') +
    workflows.map((w) => item(w.workflowId, esc(w.workflowId) + ' <span class="muted">' + esc(w.latestVersion.slice(0, 8)) + '</span>')).join(''));
  el('start-run').disabled = !state.workflowId || state.workflowId === ALL;
}

function runItem(run) {
  const duration = ms(elapsed(run.createdAt, FINAL.has(run.status) ? run.completedAt : undefined));
  return '<button class="item' + (run.runId === state.runId ? ' selected' : '') + '" data-run="' + esc(run.runId) + '" title="' + esc(run.runId) + '">' +
    badge(run.status) + ' <span class="mono">' + esc(run.runId.slice(0, 8)) + '</span> ' +
    (state.workflowId === ALL ? esc(run.workflowId) + ' ' : '') +
    '<span class="muted">' + time(run.createdAt).slice(5, 19) + ' · ' + duration + '</span></button>';
}

async function loadRuns(more) {
  if (!state.workflowId) return;
  const query = new URLSearchParams({ limit: '30' });
  if (state.workflowId !== ALL) query.set('workflowId', state.workflowId);
  if (state.status) query.set('status', state.status);
  if (more && state.nextToken) query.set('nextToken', state.nextToken);
  let page;
  try { page = await api('/runs?' + query.toString()); } catch (error) { el('runs').innerHTML = '<div class="notice">' + esc(error.message) + '</div>'; return; }
  const html = page.runs.map(runItem).join('');
  if (more) el('runs').insertAdjacentHTML('beforeend', html);
  else el('runs').innerHTML = html || 'no runs' + (state.status ? ' ' + esc(state.status) : ' yet');
  if (more) state.paged = true;
  state.nextToken = page.nextToken || null;
  el('more-runs').style.display = state.nextToken ? 'block' : 'none';
}

async function loadStats() {
  if (!state.workflowId || state.workflowId === ALL) { el('stats').innerHTML = 'pick a workflow'; state.stats = null; return; }
  const stats = await api('/workflows/' + encodeURIComponent(state.workflowId) + '/stats');
  state.stats = stats;
  el('stats').innerHTML = '<table><tr><th>task</th><th>runs</th><th>attempts</th><th>p50</th><th>p95</th><th>p99</th><th>failure rate</th><th>retry rate</th></tr>' +
    stats.tasks.map((t) => '<tr><td>' + esc(t.taskId) + '</td><td>' + t.count + '</td><td>' + t.attempts + '</td><td>' + ms(t.p50Ms) + '</td><td>' +
      ms(t.p95Ms) + '</td><td>' + ms(t.p99Ms) + '</td><td>' + (100 * t.failureRate).toFixed(1) + '%</td><td>' + (100 * t.retryRate).toFixed(1) + '%</td></tr>').join('') +
    '</table><div class="muted">over the last ' + stats.runs + ' runs of the latest version</div>';
}

// ---- one run ---------------------------------------------------------------------------------
async function loadRun() {
  if (!state.runId) { el('tabs').style.display = 'none'; return; }
  let run;
  try {
    run = await api('/runs/' + encodeURIComponent(state.runId));
  } catch (error) {
    if (error.status !== 404 && error.status !== 400) throw error;
    state.run = null;
    el('run').innerHTML = '<div class="notice" id="run-missing">Run <span class="mono">' + esc(state.runId) + '</span> was not found: ' + esc(error.message) + '</div>';
    el('tabs').style.display = 'none';
    closeDrawer();
    return;
  }
  state.run = run;
  if (!state.workflowId) { state.workflowId = run.workflowId; writeLink(); loadWorkflows().catch(report); loadRuns().catch(report); loadStats().catch(report); }
  // The history and the version's statistics only for the views that show them (the run is polled).
  const [layout, history] = await Promise.all([
    layoutOf(run),
    needsHistory() ? api('/runs/' + encodeURIComponent(run.runId) + '/history') : Promise.resolve(null),
    state.taskId ? statsOfVersion(run) : Promise.resolve(null),
  ]);
  state.history = history ? history.events : null;
  const actions = (run.status === 'RUNNING' ? '<button class="action danger" id="cancel-run">Cancel</button>' : '') +
    (run.status === 'FAILED' || run.status === 'CANCELLED' ? '<button class="action" id="retry-run">Retry</button>' : '');
  el('run').innerHTML = '<h2>' + esc(run.workflowId) + ' ' + badge(run.status) + actions + '</h2>' +
    '<div class="muted">run <span class="mono" id="run-id">' + esc(run.runId) + '</span> · version ' + esc(run.version) +
    (run.handlerBuild ? ' · handler build ' + esc(run.handlerBuild) : '') +
    (run.parentRunId ? ' · child of <a id="parent-run" href="#run=' + encodeURIComponent(run.parentRunId) + '">' + esc(run.parentRunId.slice(0, 8)) + '</a> (task ' + esc(run.parentTaskId) + ')' : '') +
    ' · started ' + time(run.createdAt) +
    ' · ' + (FINAL.has(run.status) ? 'took ' : 'running for ') + ms(elapsed(run.createdAt, FINAL.has(run.status) ? run.completedAt : undefined)) + '</div>' +
    (run.error ? '<h3>Error</h3>' + json(run.error) : '');
  el('tabs').style.display = 'block';
  renderTabs(layout);
  if (state.taskId) renderDrawer();
}

/** The recent runs' statistics of the run's own version (the drawer compares the run with them), every 10 s at most. */
async function statsOfVersion(run) {
  const key = run.workflowId + '/' + run.version;
  const cached = state.versionStats.get(key);
  if (cached && Date.now() - cached.at < 10000) return cached.stats;
  const stats = await api('/workflows/' + encodeURIComponent(run.workflowId) + '/stats?version=' + encodeURIComponent(run.version));
  state.versionStats.set(key, { at: Date.now(), stats });
  return stats;
}

async function layoutOf(run) {
  const key = run.workflowId + '/' + run.version;
  if (!state.layouts.has(key)) {
    state.layouts.set(key, await api('/workflows/' + encodeURIComponent(run.workflowId) + '/versions/' + encodeURIComponent(run.version) + '/layout'));
  }
  return state.layouts.get(key);
}

/** The timeline, the history tab and a task's attempts are read from the run's history. */
const needsHistory = () => state.tab !== 'graph' || Boolean(state.taskId);

/** Draws the selected run again from what is loaded, loading what a newly chosen view needs first. */
async function redraw() {
  if (!state.run) return;
  if ((needsHistory() && !state.history) || (state.taskId && !state.versionStats.has(state.run.workflowId + '/' + state.run.version))) {
    await loadRun().catch(report);
    return;
  }
  renderTabs(state.layouts.get(state.run.workflowId + '/' + state.run.version));
  if (state.taskId) renderDrawer();
}

function renderTabs(layout) {
  for (const tab of document.querySelectorAll('button.tab')) tab.classList.toggle('selected', tab.dataset.tab === state.tab);
  for (const name of ['graph', 'timeline', 'history']) el('tab-' + name).style.display = name === state.tab ? 'block' : 'none';
  if (state.tab === 'graph') el('graph').innerHTML = graph(state.run, layout);
  if (state.tab === 'timeline') el('tab-timeline').innerHTML = timeline(state.run, state.history);
  if (state.tab === 'history') el('tab-history').innerHTML = historyTable(state.history);
}

/** The DAG as the API laid it out: boxes coloured by status, the critical path dashed red. */
function graph(run, layout) {
  const byId = new Map(run.tasks.map((t) => [t.taskId, t]));
  const zoom = Number(el('zoom').value) / 100;
  let svg = '<svg width="' + Math.ceil(layout.width * zoom) + '" height="' + Math.ceil(layout.height * zoom) + '" viewBox="0 0 ' + layout.width + ' ' + layout.height + '">' +
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#9aa5b1"/></marker></defs>';
  for (const edge of layout.edges) {
    svg += '<polyline fill="none" stroke="#9aa5b1" marker-end="url(#arrow)" points="' + edge.points.map((p) => p.x + ',' + p.y).join(' ') + '"/>';
  }
  for (const node of layout.nodes) {
    if (node.members) { svg += groupBox(node, node.members.map((id) => byId.get(id) || { taskId: id, status: 'PENDING' })); continue; }
    const task = byId.get(node.taskId) || { taskId: node.taskId, status: 'PENDING', attempt: 0 };
    const chars = Math.floor((node.width - 16) / 7);
    const label = task.taskId.length > chars ? task.taskId.slice(0, chars - 1) + '…' : task.taskId;
    const running = task.status === 'RUNNING' ? ' ' + ms(elapsed(task.startedAt)) : '';
    const detail = task.status + (task.attempt > 1 ? ' #' + task.attempt : '') + (task.durationMs !== undefined ? ' ' + ms(task.durationMs) : running);
    const classes = 'node' + (task.taskId === state.taskId ? ' selected' : '') + (task.onCriticalPath ? ' critical' : '');
    svg += '<g class="' + classes + '" data-task="' + esc(task.taskId) + '"><title>' + esc(task.taskId + ': ' + task.status + (task.why ? ' - ' + task.why.message : '') + (task.error ? ' - ' + task.error.message : '')) +
      '</title><rect x="' + node.x + '" y="' + node.y + '" width="' + node.width + '" height="' + node.height + '" rx="6" fill="' + (COLORS[task.status] || '#333') + '"/>' +
      '<text x="' + (node.x + 8) + '" y="' + (node.y + 18) + '" fill="#fff">' + esc(label) + '</text>' +
      '<text x="' + (node.x + 8) + '" y="' + (node.y + 34) + '" fill="#fff">' + esc(detail) + '</text></g>';
  }
  return svg + '</svg>' + (run.compensations ? '<h3>Compensations</h3>' + run.compensations.map((c) => esc(c.taskId) + ' ' + badge(c.status)).join(' ') : '');
}

/** The status a group shows: its most pressing member's. */
const PRESSING = ['FAILED', 'RUNNING', 'QUEUED', 'WAITING', 'PENDING', 'CANCELLED', 'SKIPPED', 'SUCCEEDED'];
function countByStatus(members) {
  const counts = {};
  for (const task of members) counts[task.status] = (counts[task.status] || 0) + 1;
  return counts;
}

/** One box for a wide fan of parallel siblings: how many, and how many in each status. */
function groupBox(node, members) {
  const counts = countByStatus(members);
  const status = PRESSING.find((s) => counts[s]) || 'PENDING';
  const summary = PRESSING.filter((s) => counts[s]).map((s) => counts[s] + ' ' + s.toLowerCase()).join(' · ');
  const selected = node.taskId === state.taskId || members.some((t) => t.taskId === state.taskId);
  return '<g class="node group' + (selected ? ' selected' : '') + '" data-task="' + esc(node.taskId) + '"><title>' + esc(members.length + ' parallel tasks: ' + summary) + '</title>' +
    '<rect x="' + (node.x + 4) + '" y="' + (node.y - 4) + '" width="' + node.width + '" height="' + node.height + '" rx="6" fill="#bcccdc"/>' +
    '<rect x="' + node.x + '" y="' + node.y + '" width="' + node.width + '" height="' + node.height + '" rx="6" fill="' + COLORS[status] + '"/>' +
    '<text x="' + (node.x + 8) + '" y="' + (node.y + 18) + '" fill="#fff">' + esc(members.length + ' tasks: ' + members[0].taskId + '…') + '</text>' +
    '<text x="' + (node.x + 8) + '" y="' + (node.y + 34) + '" fill="#fff">' + esc(summary.slice(0, 40)) + '</text></g>';
}

/** Each attempt's span from the history: started -> its outcome (or now, while it runs). */
function attemptSpans(events, taskId) {
  const spans = [];
  for (const event of events) {
    if (taskId !== undefined && event.taskId !== taskId) continue;
    if (!event.taskId) continue;
    if (event.type === 'TaskStarted') spans.push({ taskId: event.taskId, attempt: event.attempt, phase: event.phase, start: event.at, end: null, outcome: 'RUNNING' });
    const outcome = { TaskSucceeded: 'SUCCEEDED', TaskFailed: 'FAILED', TaskRetried: 'RETRIED', TaskTimedOut: 'TIMED OUT', TaskCancelled: 'CANCELLED' }[event.type];
    if (!outcome) continue;
    const open = spans.slice().reverse().find((s) => s.taskId === event.taskId && s.end === null && (event.attempt === undefined || s.attempt === event.attempt));
    if (open) { open.end = event.at; open.outcome = outcome; open.error = event.error; open.durationMs = event.durationMs; }
  }
  return spans;
}

function timeline(run, events) {
  const spans = attemptSpans(events);
  if (spans.length === 0) return '<p class="muted">no attempt has started yet</p>';
  const start = Date.parse(run.createdAt);
  // A finished run's axis ends with its last event; a live one's at now.
  const end = FINAL.has(run.status)
    ? Math.max(start + 1, Date.parse(run.completedAt || run.createdAt), ...spans.map((s) => Date.parse(s.end || s.start)))
    : Date.now();
  const scale = (at) => (100 * (Date.parse(at) - start)) / (end - start);
  const lanes = run.tasks.map((task) => {
    const bars = spans.filter((s) => s.taskId === task.taskId).map((s) => {
      const left = scale(s.start);
      const width = Math.max(0.4, scale(s.end || new Date(end).toISOString()) - left);
      const color = { SUCCEEDED: COLORS.SUCCEEDED, RUNNING: COLORS.RUNNING, CANCELLED: COLORS.CANCELLED }[s.outcome] || COLORS.FAILED;
      return '<div class="bar" title="' + esc(task.taskId + ' attempt ' + s.attempt + ': ' + s.outcome + ' ' + ms(elapsed(s.start, s.end || undefined))) +
        '" style="left:' + left + '%;width:' + width + '%;background:' + color + '"></div>';
    }).join('');
    return '<tr><td class="mono" style="white-space:nowrap">' + esc(task.taskId) + (task.onCriticalPath ? ' <span class="muted">critical</span>' : '') +
      '</td><td style="width:70%"><div class="lane">' + bars + '</div></td></tr>';
  }).join('');
  return '<table style="width:100%" id="timeline">' + lanes + '</table><div class="muted">from ' + time(run.createdAt) + ', ' + ms(end - start) + ' across</div>';
}

function historyTable(events) {
  return '<table id="history"><tr><th>time</th><th>event</th><th>task</th><th>attempt</th><th>duration</th><th>detail</th></tr>' +
    events.map((e) => '<tr><td class="mono">' + time(e.at) + '</td><td>' + esc(e.type) + (e.phase > 0 ? ' <span class="muted">phase ' + e.phase + '</span>' : '') +
      '</td><td>' + esc(e.taskId || '') + '</td><td>' + (e.attempt || '') + '</td><td>' + (e.durationMs !== undefined ? ms(e.durationMs) : '') +
      '</td><td>' + esc(e.error ? e.error.name + ': ' + e.error.message : e.reason || '') + '</td></tr>').join('') + '</table>';
}

// ---- the task drawer -------------------------------------------------------------------------
/** A group's drawer: its members with their status, each opening its own drawer. */
function renderGroupDrawer(group) {
  const byId = new Map(state.run.tasks.map((t) => [t.taskId, t]));
  const members = group.members.map((id) => byId.get(id) || { taskId: id, status: 'PENDING', attempt: 0 });
  const counts = countByStatus(members);
  el('drawer').innerHTML = '<div class="row"><h2 style="flex:1;margin:0">' + members.length + ' parallel tasks</h2><button class="action" id="close-drawer">Close</button></div>' +
    '<p>' + PRESSING.filter((s) => counts[s]).map((s) => badge(s) + ' ' + counts[s]).join(' ') + '</p>' +
    '<table id="members"><tr><th>task</th><th>status</th><th>attempt</th><th>duration</th></tr>' +
    members.map((t) => '<tr><td><button class="item mono" data-member="' + esc(t.taskId) + '">' + esc(t.taskId) + '</button></td><td>' + badge(t.status) +
      '</td><td>' + (t.attempt || '') + '</td><td>' + ms(t.durationMs !== undefined ? t.durationMs : elapsed(t.startedAt)) + '</td></tr>').join('') + '</table>';
  el('drawer').classList.add('open');
}

function renderDrawer() {
  const run = state.run;
  const layout = run && state.layouts.get(run.workflowId + '/' + run.version);
  const group = layout && layout.nodes.find((n) => n.members && n.taskId === state.taskId);
  if (group) return renderGroupDrawer(group);
  const task = run && run.tasks.find((t) => t.taskId === state.taskId);
  if (!task) { closeDrawer(); return; }
  const upstream = {};
  for (const id of task.dependsOn) { const dep = run.tasks.find((t) => t.taskId === id); upstream[id] = dep && dep.output !== undefined ? { output: dep.output } : {}; }
  const attempts = attemptSpans(state.history || [], task.taskId);
  const compensation = (run.compensations || []).find((c) => c.taskId === task.taskId);
  const versionStats = state.versionStats.get(run.workflowId + '/' + run.version);
  const stat = versionStats && versionStats.stats.tasks.find((t) => t.taskId === task.taskId);
  el('drawer').innerHTML = '<div class="row"><h2 style="flex:1;margin:0" class="mono">' + esc(task.taskId) + '</h2><button class="action" id="close-drawer">Close</button></div>' +
    '<p>' + badge(task.status) + ' <span class="muted">' + esc(task.type || '') + ' · attempt ' + task.attempt + '</span></p>' +
    (task.why ? '<div class="notice" id="why"><strong>Why is it ' + esc(task.status.toLowerCase()) + '?</strong> ' + esc(task.why.message) + '</div>' : '') +
    (task.wakeAt ? '<p>waits until ' + time(task.wakeAt) + '</p>' : '') +
    '<table><tr><th>started</th><td>' + time(task.startedAt) + '</td></tr><tr><th>ended</th><td>' + time(task.completedAt) + '</td></tr>' +
    '<tr><th>duration</th><td>' + ms(task.durationMs !== undefined ? task.durationMs : elapsed(task.startedAt)) + '</td></tr>' +
    '<tr><th>depends on</th><td>' + (task.dependsOn.map(esc).join(', ') || '-') + '</td></tr>' +
    (task.childRunId ? '<tr><th>child run</th><td><a id="child-run" class="mono" href="#run=' + encodeURIComponent(task.childRunId) + '">' + esc(task.childRunId) + '</a></td></tr>' : '') +
    (task.items ? '<tr><th>items</th><td><a id="map-items" href="' + esc(task.items.href) + '" target="_blank" rel="noopener">' + task.items.total + ' items</a></td></tr>' : '') +
    '<tr><th>checkpoint</th><td>' + (task.hasCheckpoint ? 'saved: the next attempt resumes from it' : 'none') + '</td></tr></table>' +
    (stat ? percentiles(stat, task.durationMs) : '') +
    '<h3>Input</h3>' + (run.inputRef ? link(run.inputRef) : '') + json({ input: run.input, upstream }) +
    (task.output !== undefined ? '<h3>Output</h3>' + json(task.output) : '') +
    (task.outputRef ? '<h3>Output</h3>' + link(task.outputRef) : '') +
    (task.error ? '<h3>Error</h3>' + json(task.error) : '') + (task.reason ? '<p class="muted">' + esc(task.reason) + '</p>' : '') +
    '<h3>Attempts</h3>' + (attempts.length === 0 ? '<p class="muted">none yet</p>' : '<table id="attempts"><tr><th>#</th><th>started</th><th>ended</th><th>duration</th><th>outcome</th></tr>' +
      attempts.map((a) => '<tr><td>' + a.attempt + (a.phase > 0 ? '<span class="muted"> (phase ' + a.phase + ')</span>' : '') + '</td><td class="mono">' + time(a.start) + '</td><td class="mono">' + time(a.end) +
        '</td><td>' + ms(a.durationMs !== undefined ? a.durationMs : elapsed(a.start, a.end || undefined)) + '</td><td>' + esc(a.outcome) +
        (a.error ? '<div class="muted">' + esc(a.error.name + ': ' + a.error.message) + '</div>' : '') + '</td></tr>').join('') + '</table>') +
    (compensation ? '<h3>Compensation</h3>' + badge(compensation.status) + (compensation.output !== undefined ? json(compensation.output) : '') + (compensation.error ? json(compensation.error) : '') : '');
  el('drawer').classList.add('open');
}

/** The task's p50/p95/p99 over recent runs, with this run's attempt marked against them. */
function percentiles(stat, durationMs) {
  const top = Math.max(stat.p99Ms || 0, durationMs || 0, 1);
  const mark = (value, color, label) => value === null || value === undefined ? '' :
    '<div title="' + esc(label + ' ' + ms(value)) + '" style="position:absolute;left:' + (100 * value) / top + '%;top:0;width:2px;height:16px;background:' + color + '"></div>';
  return '<h3>Against recent runs of this version</h3><div class="muted">p50 ' + ms(stat.p50Ms) + ' · p95 ' + ms(stat.p95Ms) + ' · p99 ' + ms(stat.p99Ms) +
    ' · failure rate ' + (100 * stat.failureRate).toFixed(1) + '%' + (durationMs !== undefined ? ' · this run ' + ms(durationMs) : '') + '</div>' +
    '<div style="position:relative;height:16px;background:#eef2f7;border-radius:3px;margin:4px 0">' + mark(stat.p50Ms, '#2186eb', 'p50') + mark(stat.p95Ms, '#f0b429', 'p95') +
    mark(stat.p99Ms, '#e12d39', 'p99') + mark(durationMs, '#102a43', 'this run') + '</div>';
}

function closeDrawer() { el('drawer').classList.remove('open'); }

// ---- actions and events ------------------------------------------------------------------------
function report(error) { console.error(error); }

async function act(label, path) {
  if (!confirm(label + ' run ' + state.runId + '?')) return;
  try { await post(path); } catch (error) { alert(label + ' failed: ' + error.message); }
  await refresh();
}

function selectRun(runId) {
  state.runId = runId; state.taskId = null; state.missingRun = null; closeDrawer(); writeLink();
  el('run').innerHTML = 'loading...';
  Promise.all([loadRuns(), loadRun()]).catch(report);
}

document.addEventListener('click', (event) => {
  const target = event.target.closest('button.item, button.tab, g.node, #cancel-run, #retry-run, #close-drawer, #more-runs, #start-run');
  if (!target) return;
  if (target.dataset.member) { state.taskId = target.dataset.member; writeLink(); return redraw(); }
  if (target.id === 'cancel-run') return act('Cancel', '/runs/' + encodeURIComponent(state.runId) + '/cancel');
  if (target.id === 'retry-run') return act('Retry', '/runs/' + encodeURIComponent(state.runId) + '/retry');
  if (target.id === 'close-drawer') { state.taskId = null; closeDrawer(); writeLink(); return redraw(); }
  if (target.id === 'more-runs') return loadRuns(true).catch(report);
  if (target.id === 'start-run') { el('start-workflow').textContent = state.workflowId; el('start-error').textContent = ''; return el('start-dialog').showModal(); }
  if (target.dataset.workflow) {
    state.workflowId = target.dataset.workflow; state.nextToken = null; state.paged = false; writeLink();
    return Promise.all([loadWorkflows(), loadRuns(), loadStats()]).catch(report);
  }
  if (target.dataset.run) return selectRun(target.dataset.run);
  if (target.dataset.tab) { state.tab = target.dataset.tab; writeLink(); return redraw(); }
  if (target.dataset.task) { state.taskId = target.dataset.task; writeLink(); return redraw(); }
});

el('status-filter').addEventListener('change', () => { state.status = el('status-filter').value; state.nextToken = null; state.paged = false; writeLink(); loadRuns().catch(report); });
el('zoom').addEventListener('input', redraw);
el('find-task').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = el('find-task-id').value.trim();
  const task = state.run && state.run.tasks.find((t) => t.taskId === text) || (state.run && state.run.tasks.find((t) => t.taskId.includes(text)));
  if (!text || !task) { el('find-task-id').style.borderColor = '#e12d39'; return; }
  el('find-task-id').style.borderColor = '';
  state.taskId = task.taskId; state.tab = 'graph'; writeLink();
  redraw().then(() => {
    const node = document.querySelector('#graph g.node.selected');
    if (node) node.scrollIntoView({ block: 'center', inline: 'center' });
  });
});
el('find-run').addEventListener('submit', (event) => { event.preventDefault(); const id = el('find-run-id').value.trim(); if (id) selectRun(id); });
el('start-form').addEventListener('submit', async (event) => {
  if (event.submitter && event.submitter.value !== 'start') return;
  event.preventDefault();
  let input;
  try { input = JSON.parse(el('start-input').value || 'null'); } catch (error) { el('start-error').textContent = 'the input is not JSON: ' + error.message; return; }
  try {
    const { runId } = await post('/runs', { workflowId: state.workflowId, input });
    el('start-dialog').close();
    selectRun(runId);
  } catch (error) { el('start-error').textContent = error.message; }
});
window.addEventListener('hashchange', () => { readLink(); el('status-filter').value = state.status; refreshAll().catch(report); });

async function refresh() { await Promise.all([loadWorkflows(), state.paged ? Promise.resolve() : loadRuns(), loadRun()]); }
async function refreshAll() { await Promise.all([refresh(), loadStats()]); }
/** Once a second: the list (unless the user paged on), and the run while it is not final. */
async function tick() {
  const live = !state.run || !FINAL.has(state.run.status) || state.run.runId !== state.runId;
  await Promise.all([loadWorkflows(), state.paged ? Promise.resolve() : loadRuns(), live ? loadRun() : Promise.resolve()]);
}

readLink();
el('status-filter').value = state.status;
refreshAll().catch(report);
setInterval(() => tick().catch(report), 1000);
setInterval(() => loadStats().catch(report), 10000);
`;
