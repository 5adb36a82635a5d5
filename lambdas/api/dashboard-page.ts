// The dashboard page served at GET /: an operations console on the same JSON API as any client.
// Runs of one workflow or of all (filter by status, find a run by id, page on), a run's live DAG
// (laid out by the API's /layout route), its timeline and its history, a task drawer (why it is
// not running, output, error, every attempt, checkpoint, compensation, its duration against the
// workflow's recent percentiles), and actions: start, cancel, retry. Every selection is in the
// URL, so a link opens the same view. One self-contained page: no build step, no dependencies.
import { DASHBOARD_SCRIPT } from './dashboard-script.js';

const STYLE = String.raw`
  :root { font-family: system-ui, sans-serif; color: #1f2933; background: #f5f7fa; font-size: 14px; }
  * { box-sizing: border-box; }
  body { margin: 0; display: grid; grid-template-columns: 320px 1fr; height: 100vh; overflow: hidden; }
  nav { background: #fff; border-right: 1px solid #d9e2ec; padding: 12px; overflow-y: auto; }
  main { padding: 16px 24px; overflow: auto; position: relative; }
  h1 { font-size: 18px; margin: 0 0 12px; }
  h2 { font-size: 15px; margin: 16px 0 8px; }
  h3 { font-size: 13px; margin: 14px 0 6px; color: #52606d; text-transform: uppercase; letter-spacing: .04em; }
  button { font: inherit; cursor: pointer; }
  button.item { display: block; width: 100%; text-align: left; border: 0; background: none; padding: 6px 8px; border-radius: 6px; }
  button.item:hover, button.item.selected { background: #e4ecf7; }
  button.action { border: 1px solid #9fb3c8; background: #fff; border-radius: 6px; padding: 4px 12px; margin-left: 6px; }
  button.action.danger { border-color: #e12d39; color: #ab091e; }
  button.tab { border: 0; background: none; padding: 6px 12px; border-bottom: 2px solid transparent; }
  button.tab.selected { border-bottom-color: #2186eb; font-weight: 600; }
  input, select, textarea { font: inherit; padding: 4px 6px; border: 1px solid #bcccdc; border-radius: 6px; }
  .row { display: flex; gap: 6px; align-items: center; margin: 6px 0; }
  .status { font-size: 11px; font-weight: 600; padding: 1px 6px; border-radius: 8px; color: #fff; white-space: nowrap; }
  .muted { color: #7b8794; font-size: 12px; }
  .mono { font-family: ui-monospace, monospace; font-size: 12px; }
  .notice { padding: 12px; background: #fff3c4; border: 1px solid #f0b429; border-radius: 6px; }
  table { border-collapse: collapse; font-size: 13px; }
  td, th { padding: 4px 10px; border-bottom: 1px solid #e4e7eb; text-align: left; vertical-align: top; }
  pre { background: #fff; border: 1px solid #d9e2ec; padding: 8px; font-size: 12px; max-height: 240px; overflow: auto; margin: 4px 0; }
  #graph { overflow: auto; max-height: 70vh; border: 1px solid #d9e2ec; background: #fff; border-radius: 6px; }
  #graph svg text { font-size: 12px; pointer-events: none; }
  #graph g.node { cursor: pointer; }
  #graph g.node.selected rect { stroke: #102a43; stroke-width: 3; }
  #graph g.node.critical rect { stroke: #d64545; stroke-width: 3; stroke-dasharray: 5 3; }
  #drawer { position: fixed; top: 0; right: 0; width: 460px; height: 100vh; overflow-y: auto; background: #fff;
    border-left: 1px solid #bcccdc; box-shadow: -4px 0 12px rgba(0,0,0,.08); padding: 16px; display: none; }
  #drawer.open { display: block; }
  .bar { position: absolute; height: 14px; border-radius: 3px; }
  .lane { position: relative; height: 20px; border-bottom: 1px solid #eef2f7; }
  dialog { border: 1px solid #9fb3c8; border-radius: 8px; padding: 16px; width: 520px; }
`;

export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dagflow</title>
<style>${STYLE}</style>
</head>
<body>
<nav>
  <h1>dagflow</h1>
  <h2>Workflows</h2>
  <div id="workflows" class="muted">loading...</div>
  <h2>Runs</h2>
  <div class="row">
    <select id="status-filter" aria-label="status filter">
      <option value="">any status</option><option>RUNNING</option><option>COMPLETED</option><option>FAILED</option><option>CANCELLED</option>
    </select>
    <button class="action" id="start-run" disabled>Start run</button>
  </div>
  <form id="find-run" class="row"><input id="find-run-id" placeholder="run id" aria-label="run id" style="flex:1"><button class="action">Open</button></form>
  <div id="runs" class="muted">pick a workflow</div>
  <button class="action" id="more-runs" style="display:none">More runs</button>
</nav>
<main>
  <div id="run" class="muted">Pick a run to see its DAG, live.</div>
  <div id="tabs" style="display:none">
    <div class="row"><button class="tab" data-tab="graph">Graph</button><button class="tab" data-tab="timeline">Timeline</button><button class="tab" data-tab="history">History</button>
      <span style="flex:1"></span><form id="find-task" class="row" style="margin:0"><input id="find-task-id" placeholder="find a task" aria-label="find a task"></form>
      <label class="muted">zoom <input id="zoom" type="range" min="25" max="150" value="100" aria-label="zoom"></label></div>
    <div id="tab-graph"><div id="graph"></div></div>
    <div id="tab-timeline" style="display:none"></div>
    <div id="tab-history" style="display:none"></div>
  </div>
  <h2>Task durations (recent runs)</h2><div id="stats" class="muted">pick a workflow</div>
</main>
<aside id="drawer" aria-label="task details"></aside>
<dialog id="start-dialog">
  <form method="dialog" id="start-form">
    <h2>Start a run of <span id="start-workflow"></span></h2>
    <label>Input (JSON)<br><textarea id="start-input" rows="10" style="width:100%">{}</textarea></label>
    <div id="start-error" class="muted"></div>
    <div class="row"><span style="flex:1"></span><button class="action" value="cancel" formnovalidate>Close</button><button class="action" id="start-submit" value="start">Start</button></div>
  </form>
</dialog>
<script>${DASHBOARD_SCRIPT}</script>
</body>
</html>
`;
