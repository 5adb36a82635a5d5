// The dashboard page served at GET /: workflows, their recent runs, per-task duration
// percentiles, and a live DAG of the selected run coloured by task status. One self-contained
// page that reads the same JSON API as any client (no build step, no dependencies).
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dagflow</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1f2933; background: #f5f7fa; }
  body { margin: 0; display: grid; grid-template-columns: 280px 1fr; min-height: 100vh; }
  nav { background: #fff; border-right: 1px solid #d9e2ec; padding: 12px; overflow-y: auto; }
  main { padding: 16px 24px; overflow: auto; }
  h1 { font-size: 18px; margin: 0 0 12px; }
  h2 { font-size: 15px; margin: 16px 0 8px; }
  button.item { display: block; width: 100%; text-align: left; border: 0; background: none; padding: 6px 8px; border-radius: 6px; cursor: pointer; font: inherit; }
  button.item:hover, button.item.selected { background: #e4ecf7; }
  .status { font-size: 11px; font-weight: 600; padding: 1px 6px; border-radius: 8px; color: #fff; }
  table { border-collapse: collapse; font-size: 13px; }
  td, th { padding: 4px 10px; border-bottom: 1px solid #e4e7eb; text-align: left; }
  svg text { font-size: 12px; }
  .muted { color: #7b8794; font-size: 12px; }
  pre { background: #fff; border: 1px solid #d9e2ec; padding: 8px; font-size: 12px; max-height: 240px; overflow: auto; }
</style>
</head>
<body>
<nav>
  <h1>dagflow</h1>
  <h2>Workflows</h2><div id="workflows" class="muted">loading...</div>
  <h2>Runs</h2><div id="runs" class="muted">pick a workflow</div>
</nav>
<main>
  <div id="run" class="muted">Pick a run to see its DAG, live.</div>
  <h2>Task durations (recent runs)</h2><div id="stats" class="muted">pick a workflow</div>
</main>
<script>
const COLORS = { PENDING: '#9aa5b1', QUEUED: '#2186eb', WAITING: '#8e7cc3', RUNNING: '#f0b429', SUCCEEDED: '#3ebd93',
  FAILED: '#e12d39', SKIPPED: '#cbd2d9', CANCELLED: '#616e7c', COMPLETED: '#3ebd93', CANCELLING: '#616e7c', COMPENSATING: '#d64545' };
// A link may open a workflow and a run: /#workflow=order_processing&run=<runId>
const linked = new URLSearchParams(location.hash.slice(1));
const state = { workflowId: linked.get('workflow'), runId: linked.get('run') };
const el = (id) => document.getElementById(id);
const esc = (text) => String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const badge = (status) => '<span class="status" style="background:' + (COLORS[status] || '#333') + '">' + esc(status) + '</span>';
async function api(path) { const response = await fetch(path); if (!response.ok) throw new Error(path + ': ' + response.status); return response.json(); }

async function loadWorkflows() {
  const { workflows } = await api('/workflows');
  el('workflows').innerHTML = workflows.map((w) => '<button class="item' + (w.workflowId === state.workflowId ? ' selected' : '') +
    '" data-workflow="' + esc(w.workflowId) + '">' + esc(w.workflowId) + '</button>').join('') || 'none registered';
}
async function loadRuns() {
  if (!state.workflowId) return;
  const { runs } = await api('/runs?workflowId=' + encodeURIComponent(state.workflowId) + '&limit=30');
  el('runs').innerHTML = runs.map((r) => '<button class="item' + (r.runId === state.runId ? ' selected' : '') + '" data-run="' + esc(r.runId) + '">' +
    badge(r.status) + ' <span class="muted">' + esc(r.createdAt.slice(5, 19).replace('T', ' ')) + '</span></button>').join('') || 'no runs yet';
}
async function loadStats() {
  if (!state.workflowId) return;
  const stats = await api('/workflows/' + encodeURIComponent(state.workflowId) + '/stats');
  const ms = (v) => (v === null ? '-' : v + ' ms');
  el('stats').innerHTML = '<table><tr><th>task</th><th>runs</th><th>attempts</th><th>p50</th><th>p95</th><th>p99</th><th>failure rate</th><th>retry rate</th></tr>' +
    stats.tasks.map((t) => '<tr><td>' + esc(t.taskId) + '</td><td>' + t.count + '</td><td>' + t.attempts + '</td><td>' + ms(t.p50Ms) + '</td><td>' +
      ms(t.p95Ms) + '</td><td>' + ms(t.p99Ms) + '</td><td>' + (100 * t.failureRate).toFixed(1) + '%</td><td>' + (100 * t.retryRate).toFixed(1) + '%</td></tr>').join('') +
    '</table><div class="muted">over the last ' + stats.runs + ' runs</div>';
}

/** Layers by longest path from a root; one column per layer. */
function layout(tasks) {
  const depth = new Map();
  const byId = new Map(tasks.map((t) => [t.taskId, t]));
  const visit = (t) => { if (depth.has(t.taskId)) return depth.get(t.taskId); depth.set(t.taskId, 0);
    const d = t.dependsOn.length === 0 ? 0 : 1 + Math.max(...t.dependsOn.map((id) => visit(byId.get(id)))); depth.set(t.taskId, d); return d; };
  tasks.forEach(visit);
  const columns = [];
  for (const t of tasks) { const d = depth.get(t.taskId); (columns[d] = columns[d] || []).push(t); }
  const pos = new Map();
  columns.forEach((column, x) => column.forEach((t, y) => pos.set(t.taskId, { x: 20 + x * 200, y: 20 + y * 60 })));
  return { pos, width: 40 + columns.length * 200, height: 40 + Math.max(...columns.map((c) => c.length)) * 60 };
}
function dag(run) {
  const { pos, width, height } = layout(run.tasks);
  let svg = '<svg width="' + width + '" height="' + height + '"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#9aa5b1"/></marker></defs>';
  for (const t of run.tasks) for (const dep of t.dependsOn) { const a = pos.get(dep), b = pos.get(t.taskId);
    svg += '<line x1="' + (a.x + 160) + '" y1="' + (a.y + 20) + '" x2="' + b.x + '" y2="' + (b.y + 20) + '" stroke="#9aa5b1" marker-end="url(#arrow)"/>'; }
  for (const t of run.tasks) { const p = pos.get(t.taskId);
    svg += '<g><title>' + esc(t.taskId + ': ' + t.status + (t.error ? ' - ' + t.error.message : '')) + '</title><rect x="' + p.x + '" y="' + p.y +
      '" width="160" height="40" rx="6" fill="' + (COLORS[t.status] || '#333') + '"/><text x="' + (p.x + 8) + '" y="' + (p.y + 17) + '" fill="#fff">' + esc(t.taskId.slice(0, 22)) +
      '</text><text x="' + (p.x + 8) + '" y="' + (p.y + 32) + '" fill="#fff">' + esc(t.status + (t.attempt > 1 ? ' #' + t.attempt : '') + (t.durationMs !== undefined ? ' ' + t.durationMs + 'ms' : '')) + '</text></g>'; }
  return svg + '</svg>';
}
async function loadRun() {
  if (!state.runId) return;
  const run = await api('/runs/' + encodeURIComponent(state.runId));
  el('run').innerHTML = '<h2>' + esc(run.workflowId) + ' ' + badge(run.status) + ' <span class="muted">' + esc(run.runId) + ' (version ' + esc(run.version) + ')</span></h2>' +
    dag(run) + (run.compensations ? '<h2>Compensations</h2>' + run.compensations.map((c) => esc(c.taskId) + ' ' + badge(c.status)).join(' ') : '') +
    (run.error ? '<h2>Error</h2><pre>' + esc(JSON.stringify(run.error, null, 2)) + '</pre>' : '') + '<h2>Input</h2><pre>' + esc(JSON.stringify(run.input, null, 2)) + '</pre>';
}

document.addEventListener('click', (event) => {
  const target = event.target.closest('button.item');
  if (!target) return;
  if (target.dataset.workflow) { state.workflowId = target.dataset.workflow; state.runId = null; loadWorkflows(); loadRuns(); loadStats(); }
  if (target.dataset.run) { state.runId = target.dataset.run; loadRuns(); loadRun(); }
});
async function tick() { try { await Promise.all([loadWorkflows(), loadRuns(), loadRun()]); } catch (error) { console.error(error); } }
tick();
loadStats().catch(console.error);
setInterval(tick, 1000);
setInterval(() => loadStats().catch(console.error), 10000);
</script>
</body>
</html>
`;
