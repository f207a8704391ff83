/* distro dashboard: renders the state document of web/STATE.md.
 *
 * Plain ES2017, no modules, no build step. Chart.js 3 (global `Chart`) is
 * loaded before this file; without it the page still renders everything but
 * the charts.
 *
 * Modes
 *   report: window.DISTRO_STATE is defined (report.html inlines it just before
 *           this script); it is rendered once.
 *   live:   otherwise api/state.json (relative URL) is fetched every second
 *           and the page re-rendered; charts are updated in place. A failed
 *           fetch shows #conn-lost and polling goes on.
 *
 * Test hooks (the browser tests depend on these; keep them stable)
 *   body[data-ready="1"]          after the first successful render ("0" before)
 *   body[data-live]               "1" in live mode (polling), "0" in report mode
 *   #step[data-step]              step of the latest run (the last of state.runs),
 *                                 an integer (-1 before the first step)
 *   #peers tbody tr[data-peer]    one row per peer of the shown run (the first
 *                                 run unless another is picked in #run-select),
 *                                 data-peer = the peer's name
 *   #loss-chart[data-points]      number of train-loss points plotted, all runs
 *   #events                       <ol>, one <li> per event of the shown run,
 *                                 newest first
 *   #conn-lost                    banner, visible (no `hidden`) while the last
 *                                 fetch failed (body gets class "stale": what is
 *                                 shown is the last good state, dimmed)
 *
 * Data from the document (peer names, event texts, labels) only ever reaches
 * the page through textContent, attribute setters and Chart.js labels; never
 * through innerHTML.
 */
(function () {
  'use strict';

  var RUN_COLORS = ['#2563eb', '#ea580c', '#059669', '#7c3aed', '#db2777', '#0891b2', '#ca8a04', '#475569'];
  var PEER_COLORS = ['#0ea5e9', '#f59e0b', '#10b981', '#a855f7', '#ef4444', '#14b8a6', '#84cc16', '#ec4899', '#6366f1', '#78716c'];
  var TIMELINE_ROUNDS = 12;
  var MAX_EVENTS = 200;
  var POLL_MS = 1000;
  var FETCH_TIMEOUT_MS = 5000;

  var charts = {};
  var focus = 0;          /* index of the run shown in the per-run cards */
  var lastState = null;
  var lastText = null;
  var live = typeof window.DISTRO_STATE === 'undefined';
  var lostSince = null;

  /* ---- small helpers ---------------------------------------------------- */

  function $(id) { return document.getElementById(id); }
  function arr(v) { return Array.isArray(v) ? v : []; }
  function num(v) { return (typeof v === 'number' && isFinite(v)) ? v : null; }
  function str(v) { return (v === null || v === undefined) ? '' : String(v); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function runColor(i) { return RUN_COLORS[i % RUN_COLORS.length]; }
  function peerColor(i) { return PEER_COLORS[i % PEER_COLORS.length]; }
  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return 'rgba(' + ((n >> 16) & 255) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + a + ')';
  }

  function fmtInt(v) {
    v = num(v);
    return v === null ? '\u2014' : Math.round(v).toLocaleString('en-US');
  }
  function fmtCompact(v) {
    v = num(v);
    if (v === null) return '\u2014';
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 1 : 2) + ' G';
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 1 : 2) + ' M';
    if (a >= 1e4) return (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + ' k';
    if (a >= 100) return v.toFixed(0);
    return String(Math.round(v * 100) / 100);
  }
  function fmtBytes(v) {
    v = num(v);
    if (v === null) return '\u2014';
    var units = ['B', 'kB', 'MB', 'GB', 'TB'];
    var i = 0;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (i === 0 ? String(Math.round(v)) : v.toFixed(Math.abs(v) >= 100 ? 0 : 1)) + ' ' + units[i];
  }
  function fmtDuration(s) {
    s = num(s);
    if (s === null) return '\u2014';
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + ' s';
    var t = Math.round(s);
    var h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
    function two(x) { return (x < 10 ? '0' : '') + x; }
    return h > 0 ? h + ' h ' + two(m) + ' m' : m + ' m ' + two(sec) + ' s';
  }
  function fmtLoss(v) {
    v = num(v);
    return v === null ? '\u2014' : v.toFixed(4);
  }
  function fmtGenerated(s) {
    s = str(s);
    return s ? s.replace('T', ' ').replace(/Z$/, ' UTC') : '';
  }

  /* [[x, y], ...] -> [{x, y}, ...], skipping malformed entries. */
  function points(series) {
    var out = [];
    var a = arr(series);
    for (var i = 0; i < a.length; i++) {
      var p = a[i];
      if (!Array.isArray(p)) continue;
      var x = num(p[0]), y = num(p[1]);
      if (x === null || y === null) continue;
      out.push({ x: x, y: y });
    }
    return out;
  }
  function positive(pts) { return pts.filter(function (p) { return p.y > 0; }); }

  /* ---- charts ----------------------------------------------------------- */

  var FONT = '-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "Liberation Sans", sans-serif';

  function haveChart() { return typeof window.Chart === 'function'; }

  function setupChartDefaults() {
    if (!haveChart()) return;
    var d = window.Chart.defaults;
    d.font.family = FONT;
    d.font.size = 12;
    d.color = '#4b5563';
    d.borderColor = '#e5e7eb';
    d.animation = false;
    d.responsive = true;
    d.maintainAspectRatio = false;
  }

  function baseOptions(extra) {
    var o = {
      parsing: false,
      normalized: false,
      animation: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      elements: { point: { radius: 0, hitRadius: 4 }, line: { borderWidth: 1.5, tension: 0 } },
      plugins: {
        legend: { position: 'bottom',
                  labels: { boxWidth: 14, boxHeight: 2, padding: 10,
                            sort: function (a, b) { return a.datasetIndex - b.datasetIndex; } } },
        decimation: { enabled: true, algorithm: 'lttb', samples: 800 },
        tooltip: { displayColors: true }
      },
      scales: {
        x: { type: 'linear', title: { display: true, text: 'step' }, ticks: { precision: 0 }, grid: { color: '#f0f1f4' } },
        y: { type: 'linear', grid: { color: '#f0f1f4' } }
      }
    };
    return Object.assign(o, extra || {});
  }

  function makeChart(id, type, options) {
    if (!haveChart()) return null;
    var canvas = $(id);
    if (!canvas) return null;
    return new window.Chart(canvas.getContext('2d'), { type: type, data: { datasets: [] }, options: options });
  }

  function createCharts() {
    if (!haveChart()) return;
    charts.loss = makeChart('loss-chart', 'line', baseOptions());
    charts.loss.options.scales.y.title = { display: true, text: 'loss' };

    charts.tps = makeChart('tps-chart', 'line', baseOptions());
    charts.tps.options.scales.y.title = { display: true, text: 'tokens/s' };
    charts.tps.options.scales.y.beginAtZero = true;
    charts.tps.options.scales.y.ticks = { callback: function (v) { return fmtCompact(v); } };

    charts.bytes = makeChart('bytes-chart', 'line', baseOptions());
    charts.bytes.options.scales.y = {
      type: 'logarithmic',
      title: { display: true, text: 'bytes per peer' },
      grid: { color: '#f0f1f4' },
      ticks: {
        callback: function (v) {
          var l = Math.log10(v);
          return Math.abs(l - Math.round(l)) < 1e-6 ? fmtBytes(v) : '';
        }
      }
    };
    charts.bytes.options.plugins.tooltip.callbacks = {
      label: function (c) { return c.dataset.label + ': ' + fmtBytes(c.parsed.y); }
    };

    var hashOpts = baseOptions();
    hashOpts.plugins.decimation = { enabled: false };
    hashOpts.plugins.legend.labels.boxHeight = 10;
    hashOpts.scales.x.stacked = true;
    hashOpts.scales.x.offset = false;
    hashOpts.scales.y.stacked = true;
    hashOpts.scales.y.beginAtZero = true;
    hashOpts.scales.y.ticks = { precision: 0 };
    hashOpts.scales.y.title = { display: true, text: 'replicas' };
    charts.hash = makeChart('hash-chart', 'bar', hashOpts);
  }

  /* Replace a chart's datasets, reusing the objects of datasets with the same
   * key so Chart.js keeps their state (legend visibility); then redraw. */
  function syncChart(chart, wanted) {
    if (!chart) return;
    var old = {};
    chart.data.datasets.forEach(function (ds) { old[ds._key] = ds; });
    var next = wanted.map(function (w) {
      var ds = old[w._key];
      var data = w.data;
      delete w.data;
      if (ds) {
        Object.keys(w).forEach(function (k) { ds[k] = w[k]; });
      } else {
        ds = w;
      }
      ds.data = data;
      return ds;
    });
    chart.data.datasets = next;
    chart.update('none');
  }

  function setEmpty(id, empty) {
    var c = $(id);
    if (c && c.parentNode) c.parentNode.classList.toggle('is-empty', !!empty);
  }

  /* ---- rendering -------------------------------------------------------- */

  function runLabel(run, i) {
    var l = str(run.label);
    return l || ('run ' + (i + 1));
  }

  function runStatus(state, run) {
    if (run.finished === true) return { text: 'finished', cls: 'st-finished' };
    if (live && state.live === true) return { text: 'live', cls: 'st-live' };
    return { text: 'unfinished', cls: 'st-unfinished' };
  }

  function renderTop(state) {
    var body = document.body;
    body.dataset.live = live ? '1' : '0';
    var mode = $('mode');
    var modeText = $('mode-text');
    if (live) {
      mode.className = 'mode ' + (state.live === true ? 'mode-live' : 'mode-idle');
      modeText.textContent = state.live === true ? 'live' : 'live page \u00b7 run ended';
    } else {
      mode.className = 'mode mode-report';
      modeText.textContent = 'report';
    }
    var g = fmtGenerated(state.generated);
    $('generated').textContent = g ? 'state of ' + g : '';
  }

  function stat(label, value, cls) {
    var d = el('div', 'stat' + (cls ? ' ' + cls : ''));
    d.appendChild(el('div', 'stat-label', label));
    var v = el('div', 'stat-value');
    if (value instanceof Node) v.appendChild(value); else v.textContent = value;
    d.appendChild(v);
    return d;
  }

  function renderRuns(state, runs) {
    var box = $('runs');
    clear(box);
    runs.forEach(function (run, i) {
      var card = el('article', 'run-card');
      card.style.borderTopColor = runColor(i);

      var head = el('div', 'run-head');
      var sw = el('span', 'swatch');
      sw.style.background = runColor(i);
      head.appendChild(sw);
      head.appendChild(el('h1', 'run-label', runLabel(run, i)));
      var st = runStatus(state, run);
      head.appendChild(el('span', 'pill ' + st.cls, st.text));
      card.appendChild(head);

      var meta = el('div', 'run-meta');
      var bits = [];
      if (str(run.kind)) bits.push(str(run.kind));
      if (str(run.model)) bits.push('model ' + str(run.model));
      if (num(run.params) !== null) bits.push(fmtCompact(run.params) + ' params');
      if (str(run.optimizer)) bits.push('optimizer ' + str(run.optimizer));
      meta.appendChild(el('span', null, bits.join(' \u00b7 ')));
      if (str(run.run_id)) meta.appendChild(el('span', 'mono run-id', 'id ' + str(run.run_id)));
      card.appendChild(meta);

      var stats = el('div', 'run-stats');
      var stepNum = num(run.step);
      var stepInt = stepNum === null ? -1 : Math.round(stepNum);
      var total = num(run.steps_total);
      var stepBox = el('span', 'step-count');
      var s = el('span', 'step-now', String(stepInt));
      s.setAttribute('data-step', String(stepInt));
      if (i === runs.length - 1) s.id = 'step';
      stepBox.appendChild(s);
      stepBox.appendChild(el('span', 'step-total', ' / ' + (total === null ? '?' : fmtInt(total))));
      var stepStat = stat('step', stepBox, 'stat-step');
      if (total !== null && total > 0) {
        var bar = el('div', 'progress');
        var fill = el('div', 'progress-fill');
        /* step is 0-based: after step s, s + 1 steps are done */
        var frac = Math.max(0, Math.min(1, (stepInt + 1) / total));
        fill.style.width = (frac * 100).toFixed(1) + '%';
        fill.style.background = runColor(i);
        bar.appendChild(fill);
        stepStat.appendChild(bar);
      }
      stats.appendChild(stepStat);
      stats.appendChild(stat('elapsed', fmtDuration(run.elapsed_s)));
      stats.appendChild(stat('tokens/s', fmtCompact(run.tokens_per_s)));
      stats.appendChild(stat('reduction', num(run.reduction) === null ? '\u2014' : fmtCompact(run.reduction) + '\u00d7'));
      stats.appendChild(stat(run.finished === true ? 'final val loss' : 'val loss', fmtLoss(run.val_loss),
                             num(run.val_loss) !== null ? 'stat-strong' : ''));
      card.appendChild(stats);
      box.appendChild(card);
    });
  }

  function renderRunSelect(runs) {
    var wrap = $('run-pick-wrap');
    var sel = $('run-select');
    if (runs.length < 2) { wrap.hidden = true; return; }
    wrap.hidden = false;
    var labels = runs.map(runLabel);
    var same = sel.options.length === labels.length;
    for (var i = 0; same && i < labels.length; i++) same = sel.options[i].textContent === labels[i];
    if (!same) {
      clear(sel);
      labels.forEach(function (l, j) {
        var o = el('option', null, l);
        o.value = String(j);
        sel.appendChild(o);
      });
    }
    sel.value = String(focus);
  }

  /* The cards that show one run (timeline, hash, events) name it when the
   * document has several. */
  function renderFocusTags(runs) {
    var tags = document.querySelectorAll('.focus-run');
    for (var i = 0; i < tags.length; i++) {
      var t = tags[i];
      clear(t);
      if (runs.length < 2) { t.hidden = true; continue; }
      t.hidden = false;
      var sw = el('span', 'swatch');
      sw.style.background = runColor(focus);
      t.appendChild(sw);
      t.appendChild(el('span', null, runLabel(runs[focus], focus)));
    }
  }

  function renderLoss(runs) {
    var wanted = [];
    var count = 0;
    runs.forEach(function (run, i) {
      var s = run.series || {};
      var c = runColor(i);
      var name = runLabel(run, i);
      var train = points(s.train_loss);
      count += train.length;
      if (train.length) {
        wanted.push({ _key: i + ':train', type: 'line', label: name + ' \u00b7 train', data: train,
                      borderColor: c, backgroundColor: c, borderWidth: 1.5, pointRadius: 0, order: 2 });
      }
      var bt = points(s.baseline_train_loss);
      if (bt.length) {
        wanted.push({ _key: i + ':btrain', type: 'line', label: name + ' \u00b7 baseline train', data: bt,
                      borderColor: alpha(c, 0.55), backgroundColor: alpha(c, 0.55), borderWidth: 1.5,
                      borderDash: [6, 4], pointRadius: 0, order: 3 });
      }
      var val = points(s.val_loss);
      if (val.length) {
        wanted.push({ _key: i + ':val', type: 'line', label: name + ' \u00b7 val', data: val,
                      borderColor: c, backgroundColor: '#ffffff', borderWidth: 2, pointRadius: val.length > 40 ? 2 : 4,
                      pointHoverRadius: 6, pointBorderWidth: 2, showLine: true, order: 0 });
      }
      var bv = points(s.baseline_val_loss);
      if (bv.length) {
        wanted.push({ _key: i + ':bval', type: 'line', label: name + ' \u00b7 baseline val', data: bv,
                      borderColor: alpha(c, 0.6), backgroundColor: '#ffffff', borderWidth: 1.5,
                      borderDash: [4, 3], pointRadius: bv.length > 40 ? 2 : 4, pointStyle: 'rectRot', pointBorderWidth: 2,
                      showLine: true, order: 1 });
      }
    });
    $('loss-chart').setAttribute('data-points', String(count));
    setEmpty('loss-chart', wanted.length === 0);
    syncChart(charts.loss, wanted);
  }

  /* Maps keyed by peer names have no prototype: a peer may call itself
   * "hasOwnProperty", "constructor" or "__proto__". */
  function peerIndexMap(run) {
    var m = Object.create(null);
    arr(run && run.peers).forEach(function (p, i) { m[str(p && p.name)] = i; });
    return m;
  }

  function renderThroughput(runs) {
    var wanted = [];
    runs.forEach(function (run, i) {
      var g = points((run.series || {}).tokens_per_s);
      if (g.length) {
        wanted.push({ _key: i + ':global', label: (runs.length > 1 ? runLabel(run, i) + ' \u00b7 ' : '') + 'global',
                      data: g, borderColor: runColor(i), backgroundColor: runColor(i), borderWidth: 2.5, order: 0 });
      }
    });
    var run = runs[focus];
    var prefix = runs.length > 1 ? runLabel(run, focus) + ' \u00b7 ' : '';
    arr(run && run.peers).forEach(function (p, j) {
      if (!p) return;
      var pts = points(p.tokens_per_s_series);
      if (!pts.length) return;
      wanted.push({ _key: focus + ':peer:' + str(p.name), label: prefix + str(p.name), data: pts,
                    borderColor: peerColor(j), backgroundColor: peerColor(j), borderWidth: 1.2, order: 1 });
    });
    setEmpty('tps-chart', wanted.length === 0);
    syncChart(charts.tps, wanted);
  }

  function renderBytes(runs) {
    var wanted = [];
    var multi = runs.length > 1;
    runs.forEach(function (run, i) {
      var s = run.series || {};
      var c = runColor(i);
      var p = multi ? runLabel(run, i) + ' \u00b7 ' : '';
      var up = positive(points(s.bytes_up));
      var down = positive(points(s.bytes_down));
      var dense = positive(points(s.allreduce_bytes));
      if (up.length) wanted.push({ _key: i + ':up', label: p + 'up', data: up, borderColor: c, backgroundColor: c, borderWidth: 1.5 });
      if (down.length) wanted.push({ _key: i + ':down', label: p + 'down', data: down, borderColor: alpha(c, 0.6),
                                     backgroundColor: alpha(c, 0.6), borderWidth: 1.5, borderDash: [5, 3] });
      if (dense.length && (i === 0 || !multi || !sameSeries(dense, positive(points((runs[0].series || {}).allreduce_bytes))))) {
        wanted.push({ _key: i + ':dense', label: p + 'dense all-reduce', data: dense, borderColor: '#6b7280',
                      backgroundColor: '#6b7280', borderWidth: 2, borderDash: [2, 3] });
      }
    });
    setEmpty('bytes-chart', wanted.length === 0);
    syncChart(charts.bytes, wanted);

    var box = $('reduction');
    clear(box);
    runs.forEach(function (run, i) {
      var item = el('div', 'reduction-item');
      var big = el('div', 'big-number');
      big.style.color = runs.length > 1 ? runColor(i) : '';
      big.textContent = num(run.reduction) === null ? '\u2014' : fmtCompact(run.reduction) + '\u00d7';
      item.appendChild(big);
      item.appendChild(el('div', 'big-caption', (runs.length > 1 ? runLabel(run, i) + ': ' : '') +
                          'fewer bytes sent than a dense all-reduce'));
      box.appendChild(item);
    });
  }

  /* The dense all-reduce is a property of the model: draw it once when every
   * run has the same one. */
  function sameSeries(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i].x !== b[i].x || a[i].y !== b[i].y) return false;
    return true;
  }

  var STATE_CLASS = { joining: 'st-joining', training: 'st-training', left: 'st-left', dropped: 'st-dropped', ejected: 'st-ejected' };

  function renderPeers(run) {
    var tbody = $('peers').tBodies[0];
    clear(tbody);
    var peers = arr(run && run.peers);
    peers.forEach(function (p, j) {
      if (!p || typeof p !== 'object') return;
      var name = str(p.name);
      var tr = document.createElement('tr');
      tr.setAttribute('data-peer', name);

      var tdName = el('td', 'peer-name');
      var sw = el('span', 'swatch');
      sw.style.background = peerColor(j);
      tdName.appendChild(sw);
      tdName.appendChild(el('span', null, name || '\u2014'));
      tr.appendChild(tdName);

      tr.appendChild(el('td', 'mono', str(p.device) || '\u2014'));
      tr.appendChild(el('td', null, str(p.backend) || '\u2014'));
      var tdState = el('td');
      var state = str(p.state);
      tdState.appendChild(el('span', 'pill ' + (STATE_CLASS[state] || 'st-other'), state || '\u2014'));
      tr.appendChild(tdState);
      tr.appendChild(el('td', 'num', fmtInt(p.steps)));
      tr.appendChild(el('td', 'num', fmtCompact(p.tokens_per_s)));
      var misses = num(p.misses);
      tr.appendChild(el('td', 'num' + (misses ? ' warn' : ''), fmtInt(misses)));
      tr.appendChild(el('td', 'mono', str(p.link) || '\u2014'));
      var h = str(p.last_hash);
      var tdHash = el('td');
      if (h === 'agree') tdHash.appendChild(el('span', 'hash-ok', '\u2713 agree'));
      else if (h === 'mismatch') tdHash.appendChild(el('span', 'hash-bad', '\u2717 mismatch'));
      else tdHash.appendChild(el('span', 'muted', '\u2014'));
      tr.appendChild(tdHash);
      tbody.appendChild(tr);
    });
    if (!peers.length) {
      var tr = el('tr', 'empty-row');
      var td = el('td', 'muted', 'no peers');
      td.colSpan = 9;
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
  }

  function renderTimeline(run) {
    var box = $('timeline');
    var legend = $('timeline-legend');
    clear(box);
    clear(legend);
    var rounds = arr(run && run.timeline).filter(function (r) { return r && typeof r === 'object'; });
    rounds = rounds.slice(-TIMELINE_ROUNDS).reverse();
    if (!rounds.length) {
      box.appendChild(el('div', 'muted placeholder', 'no rounds yet'));
      return;
    }
    var idx = peerIndexMap(run);
    var maxS = 0;
    rounds.forEach(function (r) {
      var s = num(r.seconds) || 0;
      arr(r.peers).forEach(function (p) {
        if (p) s = Math.max(s, (num(p.compute_s) || 0) + (num(p.wait_s) || 0));
      });
      maxS = Math.max(maxS, s);
    });
    if (maxS <= 0) maxS = 1;

    var seen = Object.create(null);
    rounds.forEach(function (r) {
      var row = el('div', 'tl-round');
      var lab = el('div', 'tl-label');
      lab.appendChild(el('span', 'tl-step', 'step ' + fmtInt(r.step)));
      lab.appendChild(el('span', 'tl-secs', fmtDuration(r.seconds)));
      row.appendChild(lab);
      var bars = el('div', 'tl-bars');
      arr(r.peers).forEach(function (p) {
        if (!p) return;
        var name = str(p.name);
        var j = name in idx ? idx[name] : null;
        seen[name] = j;
        var comp = Math.max(0, num(p.compute_s) || 0);
        var wait = Math.max(0, num(p.wait_s) || 0);
        var missed = p.submitted === false;
        var bar = el('div', 'tl-bar' + (missed ? ' missed' : ''));
        bar.title = name + ': compute ' + fmtDuration(comp) + ', waiting ' + fmtDuration(wait) +
                    (missed ? ' (missed the round)' : '');
        var c = el('span', 'tl-compute');
        c.style.width = (100 * comp / maxS).toFixed(2) + '%';
        if (!missed) c.style.background = j === null ? '#9ca3af' : peerColor(j);
        var w = el('span', 'tl-wait');
        w.style.width = (100 * wait / maxS).toFixed(2) + '%';
        bar.appendChild(c);
        bar.appendChild(w);
        bars.appendChild(bar);
      });
      row.appendChild(bars);
      box.appendChild(row);
    });

    Object.keys(seen).forEach(function (name) {
      var it = el('span', 'lg-item');
      var sw = el('span', 'swatch');
      sw.style.background = seen[name] === null ? '#9ca3af' : peerColor(seen[name]);
      it.appendChild(sw);
      it.appendChild(el('span', null, name + ' compute'));
      legend.appendChild(it);
    });
    var wi = el('span', 'lg-item');
    wi.appendChild(el('span', 'swatch swatch-wait'));
    wi.appendChild(el('span', null, 'waiting'));
    legend.appendChild(wi);
    var mi = el('span', 'lg-item');
    mi.appendChild(el('span', 'swatch swatch-missed'));
    mi.appendChild(el('span', null, 'missed'));
    legend.appendChild(mi);
  }

  function renderHash(runs) {
    var run = runs[focus] || {};
    var h = run.hash || {};
    var box = $('hash-stats');
    clear(box);
    var mism = num(h.mismatches);
    box.appendChild(stat('checked', fmtInt(h.checked)));
    box.appendChild(stat('agreeing', fmtInt(h.agreeing), 'stat-ok'));
    box.appendChild(stat('mismatches', fmtInt(mism), mism ? 'stat-bad' : ''));
    var ha = arr((run.series || {}).hash_agree);
    var agree = [], disagree = [];
    ha.forEach(function (e) {
      if (!Array.isArray(e)) return;
      var x = num(e[0]), rep = num(e[1]), ok = num(e[2]);
      if (x === null || rep === null) return;
      if (ok === null) ok = 0;
      agree.push({ x: x, y: ok });
      disagree.push({ x: x, y: Math.max(0, rep - ok) });
    });
    var wanted = [];
    if (agree.length) {
      wanted.push({ _key: 'agree', label: 'agreeing', data: agree, backgroundColor: '#10b981', borderWidth: 0,
                    barPercentage: 1, categoryPercentage: 0.9 });
      wanted.push({ _key: 'disagree', label: 'disagreeing', data: disagree, backgroundColor: '#ef4444', borderWidth: 0,
                    barPercentage: 1, categoryPercentage: 0.9 });
    }
    setEmpty('hash-chart', wanted.length === 0);
    syncChart(charts.hash, wanted);
  }

  var EVENT_CLASS = {
    joined: 'ev-good', resumed: 'ev-good', finished: 'ev-good', checkpoint: 'ev-info',
    left: 'ev-neutral', resync: 'ev-info', resynced: 'ev-info',
    refused: 'ev-bad', dropped: 'ev-bad', ejected: 'ev-bad', mismatch: 'ev-bad', missed: 'ev-warn',
    error: 'ev-bad', warning: 'ev-warn'
  };

  function renderEvents(run) {
    var list = $('events');
    clear(list);
    var evs = arr(run && run.events).filter(function (e) { return e && typeof e === 'object'; });
    var order = evs.map(function (e, i) { return { e: e, i: i }; });
    order.sort(function (a, b) {
      var ta = num(a.e.t), tb = num(b.e.t);
      if (ta !== null && tb !== null && ta !== tb) return tb - ta;
      return b.i - a.i;
    });
    order.slice(0, MAX_EVENTS).forEach(function (o) {
      var e = o.e;
      var li = el('li', 'event');
      var kind = str(e.event);
      li.setAttribute('data-event', kind);
      li.appendChild(el('span', 'ev-time mono', num(e.t) === null ? '' : '+' + fmtDuration(e.t)));
      li.appendChild(el('span', 'ev-kind ' + (EVENT_CLASS[kind] || 'ev-neutral'), kind || 'event'));
      li.appendChild(el('span', 'ev-name', str(e.name)));
      li.appendChild(el('span', 'ev-text', str(e.text)));
      list.appendChild(li);
    });
    if (!order.length) list.appendChild(el('li', 'event muted placeholder', 'no events yet'));
  }

  function render(state) {
    if (!state || typeof state !== 'object') throw new Error('state document is not an object');
    var runs = arr(state.runs).filter(function (r) { return r && typeof r === 'object'; });
    lastState = state;
    if (focus >= runs.length) focus = 0;
    renderTop(state);
    $('no-data').hidden = runs.length > 0;
    renderRuns(state, runs);
    renderRunSelect(runs);
    renderFocusTags(runs);
    renderLoss(runs);
    renderThroughput(runs);
    renderBytes(runs);
    renderPeers(runs[focus]);
    renderTimeline(runs[focus]);
    renderHash(runs);
    renderEvents(runs[focus]);
    var last = runs[runs.length - 1];
    if (last) document.title = runLabel(last, runs.length - 1) + ' \u00b7 step ' + str(last.step) + ' \u00b7 distro';
    $('page-error').hidden = true;
    document.body.dataset.ready = '1';
  }

  function safeRender(state) {
    try {
      render(state);
    } catch (err) {
      if (window.console) console.error('distro dashboard: render failed', err);
      var b = $('page-error');
      b.textContent = 'Could not render the state document: ' + (err && err.message ? err.message : String(err));
      b.hidden = false;
    }
  }

  /* ---- live polling ----------------------------------------------------- */

  function connOk() {
    lostSince = null;
    $('conn-lost').hidden = true;
    document.body.classList.remove('stale');
  }
  function connLost(err) {
    if (lostSince === null) lostSince = new Date();
    $('conn-lost').hidden = false;
    document.body.classList.add('stale');
    $('conn-lost-since').textContent = '(since ' + lostSince.toLocaleTimeString() + ': ' +
      (err && err.message ? err.message : 'no answer') + ')';
    var mode = $('mode');
    if (mode) mode.className = 'mode mode-lost';
    $('mode-text').textContent = 'disconnected';
  }

  function poll() {
    var ctl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = ctl ? setTimeout(function () { ctl.abort(); }, FETCH_TIMEOUT_MS) : null;
    fetch('api/state.json', { cache: 'no-store', signal: ctl ? ctl.signal : undefined })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.text();
      })
      .then(function (text) {
        var state = JSON.parse(text);
        connOk();
        if (text !== lastText || document.body.dataset.ready !== '1') {
          lastText = text;
          safeRender(state);
        } else {
          renderTop(state);
        }
      }, function (err) {
        connLost(err);
      })
      .then(function () {
        if (timer) clearTimeout(timer);
        setTimeout(poll, POLL_MS);
      });
  }

  function start() {
    document.body.dataset.live = live ? '1' : '0';
    setupChartDefaults();
    try {
      createCharts();
    } catch (err) {
      if (window.console) console.error('distro dashboard: charts unavailable', err);
    }
    $('run-select').addEventListener('change', function (ev) {
      focus = parseInt(ev.target.value, 10) || 0;
      if (lastState) safeRender(lastState);
    });
    if (!live) safeRender(window.DISTRO_STATE);
    else poll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
