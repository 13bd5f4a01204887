/* cm2 view: renders the report from the embedded JSON blobs (or, with --serve, from /index.json).
   Every text is inserted with textContent / createTextNode: model output never becomes markup. */
(function () {
  "use strict";
  var T0 = performance.now();
  var LIVE = document.body.getAttribute("data-live") === "1";
  var PAGE = 100;
  var INDEX = readBlob("cm2-index");
  var DETAILS = null;          // parsed on first need (episode page, transcript search)
  var DETAILS_VERSION = null;
  var VERSION = INDEX ? INDEX.version : null;
  var SEARCH = {};             // run -> [lowercased transcript text per episode]
  var LIST = {};               // run -> list state
  var CURRENT = null;          // route key of the page drawn

  function readBlob(id) {
    var el = document.getElementById(id);
    if (!el) return null;
    return JSON.parse(el.textContent);
  }

  // ---------------------------------------------------------------------------------- DOM helpers
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = String(v);
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (var i = 2; i < arguments.length; i++) add(el, arguments[i]);
    return el;
  }
  function add(el, kid) {
    if (kid === null || kid === undefined || kid === false) return;
    if (Array.isArray(kid)) { kid.forEach(function (k) { add(el, k); }); return; }
    el.appendChild(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  var SVGNS = "http://www.w3.org/2000/svg";
  function s(tag, attrs) {
    var el = document.createElementNS(SVGNS, tag);
    for (var k in (attrs || {})) {
      if (k === "text") el.textContent = String(attrs[k]); else el.setAttribute(k, String(attrs[k]));
    }
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) el.appendChild(arguments[i]);
    return el;
  }
  function fmt(x, d) { return x === null || x === undefined ? "n/a" : Number(x).toFixed(d === undefined ? 3 : d); }
  function pct(x) { return x === null || x === undefined ? "n/a" : (100 * x).toFixed(1) + "%"; }
  function num(x) { return x === null || x === undefined ? "" : Number(x).toLocaleString("en-US"); }
  function badge(status, text, tid) {
    return h("span", {"class": "badge b-" + status, "data-testid": tid || null}, text || status);
  }
  function link(href, text, attrs) { var a = h("a", Object.assign({href: href}, attrs || {})); add(a, text); return a; }
  function table(head, rows, attrs) {
    var t = h("table", attrs || null);
    var tr = h("tr");
    head.forEach(function (c) {
      var isNum = c && c.charAt(0) === "#";
      tr.appendChild(h("th", {"class": isNum ? "num" : null}, isNum ? c.slice(1) : c));
    });
    t.appendChild(h("thead", null, tr));
    var tb = h("tbody");
    rows.forEach(function (r) {
      if (r instanceof Node) { tb.appendChild(r); return; }
      var row = h("tr");
      r.forEach(function (c, i) {
        var isNum = head[i] && head[i].charAt(0) === "#";
        row.appendChild(h("td", {"class": isNum ? "num" : null}, c));
      });
      tb.appendChild(row);
    });
    t.appendChild(tb);
    return t;
  }
  function kv(obj) {
    var d = h("div", {"class": "kv"});
    Object.keys(obj).forEach(function (k) {
      var v = obj[k];
      d.appendChild(h("div", {"class": "k"}, k));
      var compact = typeof v === "object" && v !== null ? JSON.stringify(v) : null;
      d.appendChild(h("div", null, compact === null ? String(v) : h("pre", null, compact.length <= 160 ? compact : pretty(v))));
    });
    return d;
  }
  function pretty(v) { try { return JSON.stringify(v, null, 2); } catch (e) { return String(v); } }
  function longText(text, cls, limit) {
    text = text === null || text === undefined ? "" : String(text);
    limit = limit || 6000;
    var el = h("div", {"class": cls || "text"});
    if (text.length <= limit) { el.textContent = text; return el; }
    el.textContent = text.slice(0, limit);
    var b = h("button", {"class": "more", onclick: function () { el.textContent = text; }},
      "show all " + num(text.length) + " characters");
    return h("div", null, el, b);
  }
  function card(k, v, sub, tid) {
    return h("div", {"class": "card"}, h("div", {"class": "k"}, k), h("div", {"class": "v", "data-testid": tid || null}, v),
      sub ? h("div", {"class": "s"}, sub) : null);
  }

  // ------------------------------------------------------------------------------------- charts
  function histogram(hist) {
    var W = 420, H = 180, L = 34, B = 26, TOP = 24, n = hist.counts.length;
    var max = Math.max.apply(null, hist.counts.concat([1]));
    var bw = (W - L - 8) / n;
    var g = s("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img", "data-testid": "histogram"});
    g.appendChild(s("title", {text: "score histogram"}));
    for (var i = 0; i < n; i++) {
      var c = hist.counts[i], bh = (H - B - TOP) * c / max, x = L + i * bw, y = H - B - bh;
      var r = s("rect", {x: x + 1, y: y, width: bw - 2, height: Math.max(bh, 0), "class": "bar"});
      r.appendChild(s("title", {text: hist.edges[i].toFixed(1) + "–" + hist.edges[i + 1].toFixed(1) + ": " + c}));
      g.appendChild(r);
      if (c) g.appendChild(s("text", {x: x + bw / 2, y: y - 2, "text-anchor": "middle", text: c}));
    }
    for (var j = 0; j <= n; j += 2) g.appendChild(s("text", {x: L + j * bw, y: H - B + 14, "text-anchor": "middle", text: hist.edges[j].toFixed(1)}));
    g.appendChild(s("line", {x1: L, x2: W - 8, y1: H - B, y2: H - B, stroke: "#8a93a6"}));
    g.appendChild(s("text", {x: W - 8, y: H - 2, "text-anchor": "end", text: "score"}));
    return g;
  }
  function hbar(frac, w, cls) {
    w = w || 160;
    var f = Math.max(0, Math.min(1, frac || 0));
    return s("svg", {width: w, height: 12, viewBox: "0 0 " + w + " 12"},
      s("rect", {x: 0, y: 1, width: w, height: 10, fill: "#eef1f6"}),
      s("rect", {x: 0, y: 1, width: w * f, height: 10, "class": cls || "bar"}));
  }
  function deltaBar(d, w) {
    w = w || 140;
    var g = s("svg", {width: w, height: 12, viewBox: "0 0 " + w + " 12"});
    g.appendChild(s("rect", {x: 0, y: 1, width: w, height: 10, fill: "#eef1f6"}));
    if (d !== null && d !== undefined) {
      var half = w / 2, len = Math.min(1, Math.abs(d)) * half;
      g.appendChild(s("rect", {x: d >= 0 ? half : half - len, y: 1, width: len, height: 10, "class": d >= 0 ? "bar-pos" : "bar-neg"}));
    }
    g.appendChild(s("line", {x1: w / 2, x2: w / 2, y1: 0, y2: 12, stroke: "#8a93a6"}));
    return g;
  }

  // ------------------------------------------------------------------------------------- data access
  function runs() { return INDEX.runs; }
  function loadDetails() {
    if (DETAILS && (!LIVE || DETAILS_VERSION === VERSION)) return Promise.resolve(DETAILS);
    if (!LIVE) { DETAILS = readBlob("cm2-details") || {runs: []}; return Promise.resolve(DETAILS); }
    var v = VERSION;
    return fetch("details.json?v=" + encodeURIComponent(v)).then(function (r) { return r.json(); })
      .then(function (d) { DETAILS = d; DETAILS_VERSION = v; SEARCH = {}; return d; });
  }
  function detail(r, i) { return loadDetails().then(function (d) { return (d.runs[r] || [])[i]; }); }
  function searchTexts(r) {
    return loadDetails().then(function (d) {
      if (SEARCH[r]) return SEARCH[r];
      SEARCH[r] = (d.runs[r] || []).map(function (ep) {
        var parts = [ep.key, ep.task];
        (ep.messages || []).forEach(function (m) {
          if (typeof m.content === "string") parts.push(m.content);
          (m.tool_calls || []).forEach(function (c) { var f = c["function"] || {}; parts.push(f.name, f.arguments); });
        });
        return parts.join("\n").toLowerCase();
      });
      return SEARCH[r];
    });
  }
  function officialMetrics(summary) {
    var out = [];
    var evs = summary.evaluations || {};
    Object.keys(evs).forEach(function (name) {
      var e = evs[name];
      if (e.registered && e.metric) out.push({name: name, label: e.label, value: e.summary[e.metric], summary: e.summary});
    });
    return out;
  }

  // ------------------------------------------------------------------------------------- pages
  function pageSummary(app, r) {
    var R = runs();
    if (R.length > 1) {
      app.appendChild(h("h1", null, "Runs"));
      var rows = R.map(function (run, k) {
        var sm = run.summary, off = officialMetrics(sm);
        return [link("#/summary/" + k, run.name), num(sm.episodes), fmt(sm.score.mean),
          sm.score.ci95 ? fmt(sm.score.ci95[0]) + " – " + fmt(sm.score.ci95[1]) : "n/a", pct(sm.perfect),
          off.map(function (o) { return o.label + " " + pct(o.value); }).join("; ") || "—",
          link("#/episodes/" + k, "episodes")];
      });
      app.appendChild(h("div", {"class": "panel"}, table(["run", "#episodes", "#mean score", "95% CI", "#perfect", "official", ""], rows,
        {"data-testid": "runs-table"})));
    }
    var run = R[r];
    if (!run) { app.appendChild(h("p", {"class": "empty"}, "no such run")); return; }
    var sm = run.summary;
    app.appendChild(h("h1", null, R.length > 1 ? "Run: " + run.name : "Run summary: " + run.name));
    app.appendChild(h("div", {"class": "muted"}, run.path, run.bad_lines ? " · " + run.bad_lines + " unreadable line(s) skipped" : ""));
    var cards = h("div", {"class": "cards"},
      card("episodes", num(sm.episodes), sm.unscored ? sm.unscored + " unscored" : "all scored", "episode-count"),
      card("mean checklist score", fmt(sm.score.mean),
        sm.score.ci95 ? "95% CI " + fmt(sm.score.ci95[0]) + " – " + fmt(sm.score.ci95[1]) : "CI needs 2+ scored episodes", "mean-score"),
      card("perfect (score 1.0)", pct(sm.perfect)),
      card("verdicts passed / failed", num(sm.verdicts.passed) + " / " + num(sm.verdicts.failed),
        num(sm.verdicts.unjudged) + " unjudged · " + num(sm.verdicts.error) + " error · " + num(sm.verdicts.gated) + " not counted"));
    officialMetrics(sm).forEach(function (o) {
      cards.appendChild(card(o.label, pct(o.value),
        o.summary.agreement !== undefined ? "agreement with checklist " + pct(o.summary.agreement) : null, "official-" + o.name));
    });
    app.appendChild(cards);

    var g = h("div", {"class": "grid2"});
    g.appendChild(h("div", {"class": "panel"}, h("h3", null, "Score histogram (episodes per score bin)"), histogram(sm.histogram)));
    var er = Object.keys(sm.end_reasons);
    g.appendChild(h("div", {"class": "panel"}, h("h3", null, "End reasons"),
      table(["end reason", "#episodes", ""], er.map(function (k) {
        return [k, num(sm.end_reasons[k]), hbar(sm.end_reasons[k] / Math.max(1, sm.episodes))];
      }), {"data-testid": "end-reasons"})));
    app.appendChild(g);

    var offNames = officialMetrics(sm);
    var head = ["domain", "#episodes", "#mean", "95% CI", "", "#perfect", "#passed", "#failed", "#unjudged", "#error"];
    offNames.forEach(function (o) { head.push("#" + o.label); });
    app.appendChild(h("h2", null, "Per domain"));
    app.appendChild(h("div", {"class": "panel"}, table(head, sm.domains.map(function (d) {
      var row = [d.domain, num(d.episodes), fmt(d.mean), d.ci95 ? fmt(d.ci95[0]) + " – " + fmt(d.ci95[1]) : "n/a",
        hbar(d.mean), pct(d.perfect), num(d.counts.passed), num(d.counts.failed), num(d.counts.unjudged), num(d.counts.error)];
      offNames.forEach(function (o) { row.push(pct((d.official || {})[o.name])); });
      return row;
    }), {"data-testid": "domains"})));

    var g2 = h("div", {"class": "grid2"});
    var v = sm.verdicts;
    g2.appendChild(h("div", {"class": "panel"}, h("h3", null, "Verdicts"), table(["status", "#count"], [
      [badge("passed"), num(v.passed)], [badge("failed"), num(v.failed)], [badge("unjudged"), num(v.unjudged)],
      [badge("error"), num(v.error)], [badge("gated", "passed, not counted (gated)"), num(v.gated)],
      ["required item failed", num(v.required_failed)]
    ].concat(Object.keys(v.by_source).map(function (k) { return ["judged by " + k, num(v.by_source[k])]; })),
      {"data-testid": "verdict-counts"})));
    var tc = sm.tool_calls;
    g2.appendChild(h("div", {"class": "panel"}, h("h3", null, "Tool calls (" + num(tc.total) + ")"),
      table(["answered by", "#calls"], Object.keys(tc.by_source).map(function (k) { return [h("span", {"class": "badge b-src b-src-" + k}, k), num(tc.by_source[k])]; })),
      Object.keys(tc.errors).length ? table(["tool error", "#calls"], Object.keys(tc.errors).map(function (k) { return [k, num(tc.errors[k])]; })) : null,
      Object.keys(sm.errors).length ? table(["episode error", "#count"], Object.keys(sm.errors).map(function (k) { return [k, num(sm.errors[k])]; })) : null,
      sm.agent_errors ? h("div", {"class": "errbox"}, sm.agent_errors + " episode(s) with an agent error") : null));
    app.appendChild(g2);

    app.appendChild(h("h2", null, "LLM usage and cost per role"));
    var roles = Object.keys(sm.usage);
    if (!roles.length) app.appendChild(h("div", {"class": "empty", "data-testid": "usage"}, "no LLM calls recorded (offline roles)"));
    else {
      var cols = ["calls", "prompt_tokens", "completion_tokens", "cached_prompt_tokens", "cache_hits", "memo_hits", "retries", "reasks", "failures", "cost"];
      app.appendChild(h("div", {"class": "panel"}, table(["role"].concat(cols.map(function (c) { return "#" + c.replace(/_/g, " "); })),
        roles.map(function (role) {
          var u = sm.usage[role];
          return [role === "total" ? h("b", null, "total") : role].concat(cols.map(function (c) {
            return c === "cost" ? "$" + fmt(u[c] || 0, 4) : num(u[c] || 0);
          }));
        }), {"data-testid": "usage"})));
    }

    var evs = sm.evaluations || {};
    if (Object.keys(evs).length) {
      app.appendChild(h("h2", null, "Official evaluations"));
      Object.keys(evs).forEach(function (name) {
        var e = evs[name];
        var p = h("div", {"class": "panel", "data-testid": "evaluation-" + name},
          h("h3", null, name + (e.registered ? "" : " (no summariser registered: raw values)")));
        if (e.registered) {
          var rows = Object.keys(e.summary).map(function (k) {
            var val = e.summary[k];
            var shown = typeof val === "number" && /accuracy|agreement|checklist_perfect|score|when/.test(k) ? fmt(val, 4) : val === null ? "n/a" : typeof val === "object" ? pretty(val) : String(val);
            return [k, shown];
          });
          p.appendChild(table(["metric", "value"], rows));
        } else {
          var vals = e.summary.values || {};
          p.appendChild(table(["key", "values (count)"], Object.keys(vals).map(function (k) {
            return [k, Object.keys(vals[k]).map(function (x) { return x + " (" + vals[k][x] + ")"; }).join(", ")];
          })));
        }
        app.appendChild(p);
      });
    }
  }

  var LIST_KEYS = ["domain", "end", "min", "max", "q", "off", "sort", "desc", "page"];
  function listState(r, query) {
    if (!LIST[r]) LIST[r] = {domain: "", end: "", min: "", max: "", q: "", off: "", sort: "i", desc: false, page: 0};
    var st = LIST[r];
    if (query) {   // #/episodes/R?domain=banking&q=text&sort=score&desc=1&page=0: a link to a filtered list
      LIST_KEYS.forEach(function (k) {
        if (!(k in query)) return;
        st[k] = k === "desc" ? query[k] === "1" || query[k] === "true" : k === "page" ? (parseInt(query[k], 10) || 0) : query[k];
      });
    }
    return st;
  }
  function saveListState(r, st) {
    var q = [];
    LIST_KEYS.forEach(function (k) {
      var v = st[k];
      if (v === "" || v === false || (k === "page" && !v) || (k === "sort" && v === "i")) return;
      q.push(k + "=" + encodeURIComponent(v === true ? "1" : v));
    });
    var hash = "#/episodes/" + r + (q.length ? "?" + q.join("&") : "");
    if (location.hash !== hash && history.replaceState) { history.replaceState(null, "", hash); CURRENT = routeKey(); }
  }

  function pageEpisodes(app, r, query) {
    var run = runs()[r];
    if (!run) { app.appendChild(h("p", {"class": "empty"}, "no such run")); return; }
    var st = listState(r, query);
    app.appendChild(h("h1", null, "Episodes: " + run.name));
    if (runs().length > 1) {
      app.appendChild(h("div", {"class": "muted"}, "run: ", runs().map(function (x, k) {
        return [k ? " · " : "", k === r ? h("b", null, x.name) : link("#/episodes/" + k, x.name)];
      })));
    }
    var eps = run.episodes;
    var domains = uniq(eps.map(function (e) { return e.domain; }));
    var ends = uniq(eps.map(function (e) { return e.end; }));
    var hasOff = eps.some(function (e) { return e.off; });
    function sel(name, opts, label) {
      var el = h("select", {"data-testid": "filter-" + name, onchange: function () { st[name] = el.value; st.page = 0; draw(); }},
        h("option", {value: ""}, "all"), opts.map(function (o) { return h("option", {value: o}, o); }));
      el.value = st[name];
      return h("label", null, label, el);
    }
    function inp(name, label, type, attrs) {
      var el = h("input", Object.assign({type: type, "data-testid": "filter-" + name}, attrs || {}));
      el.value = st[name];
      var timer = null;
      el.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(function () { st[name] = el.value; st.page = 0; draw(); }, type === "search" ? 250 : 120);
      });
      return h("label", null, label, el);
    }
    var filters = h("div", {"class": "filters"}, sel("domain", domains, "domain"), sel("end", ends, "end reason"),
      inp("min", "score ≥", "number", {step: "0.05", min: 0, max: 1, style: "width:80px"}),
      inp("max", "score ≤", "number", {step: "0.05", min: 0, max: 1, style: "width:80px"}),
      hasOff ? sel("off", ["pass", "fail"], "official verdict") : null,
      inp("q", "search task id and transcript", "search", {placeholder: "text…"}));
    app.appendChild(filters);
    var count = h("div", {"class": "muted", "data-testid": "list-count"});
    var pager = h("div", {"class": "pager"});
    var holder = h("div", {"class": "panel"});
    app.appendChild(count); app.appendChild(pager); app.appendChild(holder);

    var cols = [["i", "#", true], ["key", "episode", false], ["task", "task", false], ["domain", "domain", false],
      ["score", "score", true], ["turns", "turns", true], ["steps", "steps", true], ["p", "passed", true],
      ["f", "failed", true], ["u", "unjudged", true], ["e", "error", true], ["g", "gated", true],
      ["errs", "errors", true], ["end", "end reason", false]];
    if (hasOff) cols.push(["offv", "official", false]);
    if (eps.some(function (e) { return e.tok; })) cols.push(["tok", "tokens", true]);

    var token = 0;
    function draw() {
      var my = ++token;
      var q = st.q.trim().toLowerCase();
      var pre = eps.filter(function (e) {
        if (st.domain && e.domain !== st.domain) return false;
        if (st.end && e.end !== st.end) return false;
        if (st.min !== "" && !(e.score !== null && e.score >= Number(st.min) - 1e-12)) return false;
        if (st.max !== "" && !(e.score !== null && e.score <= Number(st.max) + 1e-12)) return false;
        if (st.off) { var v = offv(e); if (v !== st.off) return false; }
        return true;
      });
      var p = q ? searchTexts(r).then(function (texts) {
        return pre.filter(function (e) { return texts[e.i] !== undefined ? texts[e.i].indexOf(q) >= 0 : e.task.toLowerCase().indexOf(q) >= 0; });
      }) : Promise.resolve(pre);
      p.then(function (rows) { if (my === token) drawRows(rows); });
    }
    function offv(e) {
      if (!e.off) return "";
      var ks = Object.keys(e.off);
      return ks.some(function (k) { return e.off[k] === false; }) ? "fail" : ks.some(function (k) { return e.off[k] === true; }) ? "pass" : "";
    }
    function drawRows(rows) {
      saveListState(r, st);
      var key = st.sort, dir = st.desc ? -1 : 1;
      rows = rows.slice().sort(function (a, b) {
        var x = key === "offv" ? offv(a) : a[key], y = key === "offv" ? offv(b) : b[key];
        if (x === y) return a.i - b.i;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        return (x < y ? -1 : 1) * dir;
      });
      var pages = Math.max(1, Math.ceil(rows.length / PAGE));
      if (st.page >= pages) st.page = pages - 1;
      count.textContent = rows.length + " of " + eps.length + " episodes";
      count.setAttribute("data-shown", rows.length);
      pager.textContent = "";
      pager.appendChild(h("button", {disabled: st.page === 0 ? true : null, onclick: function () { st.page--; drawRows(rows); }}, "◀ prev"));
      pager.appendChild(h("span", null, "page " + (st.page + 1) + " / " + pages));
      pager.appendChild(h("button", {disabled: st.page >= pages - 1 ? true : null, onclick: function () { st.page++; drawRows(rows); }}, "next ▶"));
      var t = h("table", {"data-testid": "episode-table"});
      var tr = h("tr");
      cols.forEach(function (c) {
        var cls = "sort" + (c[2] ? " num" : "") + (st.sort === c[0] ? (st.desc ? " sorted-desc" : " sorted-asc") : "");
        tr.appendChild(h("th", {"class": cls, "data-sort": c[0], onclick: function () {
          if (st.sort === c[0]) st.desc = !st.desc; else { st.sort = c[0]; st.desc = c[2] && c[0] !== "i"; }
          drawRows(rows);
        }}, c[1]));
      });
      t.appendChild(h("thead", null, tr));
      var tb = h("tbody");
      rows.slice(st.page * PAGE, (st.page + 1) * PAGE).forEach(function (e) {
        var href = "#/ep/" + r + "/" + e.i;
        var row = h("tr", {"class": "row", "data-testid": "episode-row", "data-key": e.key,
          onclick: function (ev) { if (ev.target.tagName !== "A") location.hash = href; }});
        cols.forEach(function (c) {
          var v = c[0] === "offv" ? offv(e) : e[c[0]], cell;
          if (c[0] === "key") cell = link(href, e.key);
          else if (c[0] === "score") cell = fmt(v);
          else if (c[0] === "offv") cell = v ? badge(v === "pass" ? "passed" : "failed", v) : "—";
          else if (c[0] === "f" && v) cell = h("span", {"class": "delta-neg"}, v);
          else if (c[0] === "g" && v) cell = h("span", {"class": "gatednote"}, v);
          else cell = v === null || v === undefined ? "" : String(v);
          row.appendChild(h("td", {"class": c[2] ? "num" : null}, cell));
        });
        tb.appendChild(row);
      });
      t.appendChild(tb);
      holder.textContent = "";
      holder.appendChild(rows.length ? t : h("div", {"class": "empty"}, "no episode matches the filters"));
    }
    draw();
  }

  function uniq(xs) { var seen = {}; return xs.filter(function (x) { if (seen[x]) return false; seen[x] = 1; return true; }).sort(); }

  // -------------------------------------------------------------------------- transcript rendering
  function splitThink(text) {
    var out = [], re = /<think>([\s\S]*?)(<\/think>|$)/g, last = 0, m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) out.push({t: "text", v: text.slice(last, m.index)});
      out.push({t: "think", v: m[1]});
      last = re.lastIndex;
      if (m[0].length === 0) { re.lastIndex++; }
    }
    if (last < text.length) out.push({t: "text", v: text.slice(last)});
    return out;
  }
  function contentNode(text) {
    var box = h("div");
    splitThink(text).forEach(function (part) {
      if (part.t === "think") {
        box.appendChild(h("details", {"class": "think"}, h("summary", null, "thinking (" + num(part.v.length) + " chars)"), longText(part.v.trim())));
      } else if (part.v.trim()) box.appendChild(longText(part.v.replace(/^\n+|\n+$/g, "")));
    });
    return box;
  }
  function parseJSON(x) { try { return {ok: true, v: JSON.parse(x)}; } catch (e) { return {ok: false}; } }

  function transcript(ep, r, i, ctx) {
    // ctx: {prefix, onStep(msgIndex)}; returns a container with one section per turn
    var box = h("div", {"class": "transcript"});
    var msgs = ep.messages || [], starts = ep.turn_starts || [];
    var resultOf = {};
    msgs.forEach(function (m, k) { if (m.role === "tool" && m.tool_call_id) resultOf[m.tool_call_id] = k; });
    var turns = {};
    (ep.turns || []).forEach(function (t) { turns[t.turn] = t; });
    var first = starts.length ? starts[0] : msgs.length;
    for (var k = 0; k < first; k++) box.appendChild(message(ep, msgs[k], k, ctx, resultOf));
    starts.forEach(function (st, t) {
      var end = t + 1 < starts.length ? starts[t + 1] : msgs.length;
      var tr = turns[t];
      var sec = h("section", {"class": "turn", "data-turn": t},
        h("h3", null, "Turn " + t + " · ", tr ? "score " + fmt(tr.score) : h("span", {"class": "muted"}, "not judged")));
      for (var k2 = st; k2 < end; k2++) sec.appendChild(message(ep, msgs[k2], k2, ctx, resultOf, k2 - st));
      if (tr) sec.appendChild(checklist(ep, tr, ctx));
      box.appendChild(sec);
    });
    return box;
  }

  function message(ep, m, k, ctx, resultOf, step) {
    m = m || {};
    var role = String(m.role || "?");
    var id = ctx.prefix + k;
    var head = h("div", {"class": "mh"}, h("span", {"class": "role"}, role), h("span", null, "#" + k),
      step !== undefined ? h("span", null, "step " + step) : null);
    var el = h("div", {"class": "msg role-" + role.replace(/[^a-z]/g, ""), id: id, "data-msg": k});
    el.appendChild(head);
    var content = typeof m.content === "string" ? m.content : m.content === null || m.content === undefined ? "" : pretty(m.content);
    if (role === "system") {
      el.appendChild(h("details", {"class": "sys", "data-testid": "system-prompt"},
        h("summary", null, "system prompt (" + num(content.length) + " chars)"), longText(content)));
      return el;
    }
    if (role === "tool") {
      var rec = (ep.tool_calls || {})[m.tool_call_id] || null;
      var parsed = parseJSON(content);
      var isErr = (rec && rec.error) || (parsed.ok && parsed.v && typeof parsed.v === "object" && !Array.isArray(parsed.v) && parsed.v.error);
      head.appendChild(h("span", {"class": "cn"}, m.name || (rec && rec.name) || ""));
      if (rec) head.appendChild(h("span", {"class": "badge b-src b-src-" + String(rec.source).replace(/[^a-z]/g, ""), "data-testid": "tool-source"}, rec.source));
      if (isErr) {
        el.className += " tool-error";
        head.appendChild(badge("failed", "error: " + ((rec && rec.error) || parsed.v.error), "tool-error"));
      }
      if (rec) {
        var extra = Object.keys(rec).filter(function (x) { return ["id", "name", "source", "error"].indexOf(x) < 0; });
        if (extra.length) head.appendChild(h("span", {"class": "muted"}, extra.map(function (x) { return x + "=" + JSON.stringify(rec[x]); }).join(" ")));
      }
      el.appendChild(longText(parsed.ok ? pretty(parsed.v) : content, "code"));
      return el;
    }
    if (content) el.appendChild(contentNode(content));
    (m.tool_calls || []).forEach(function (c) {
      var f = c["function"] || {};
      var args = f.arguments, pa = typeof args === "string" ? parseJSON(args) : {ok: true, v: args};
      var rec = (ep.tool_calls || {})[c.id] || null;
      var call = h("div", {"class": "call" + (pa.ok ? "" : " malformed"), "data-testid": "tool-call"},
        h("div", null, h("span", {"class": "cn"}, String(f.name || "?")), " ", h("span", {"class": "muted"}, c.id || ""),
          rec ? [" ", h("span", {"class": "badge b-src b-src-" + String(rec.source).replace(/[^a-z]/g, "")}, rec.source)] : null,
          rec && rec.error ? [" ", badge("failed", rec.error)] : null,
          !pa.ok ? [" ", badge("failed", "arguments are not valid JSON")] : null,
          resultOf[c.id] !== undefined ? [" ", stepLink(resultOf[c.id], ctx, "→ result #" + resultOf[c.id])] : null),
        h("pre", null, pa.ok ? pretty(pa.v) : String(args)));
      el.appendChild(call);
    });
    return el;
  }

  function stepLink(msg, ctx, text) {
    return h("a", {href: ctx.href ? ctx.href(msg) : "#", "data-testid": "step-link", "data-msg": msg, onclick: function (ev) {
      if (!ctx.href) { ev.preventDefault(); highlight(ctx.prefix + msg); }
    }}, text);
  }

  function checklist(ep, tr, ctx) {
    var items = ((INDEX.tasks || {})[ep.task] || [])[tr.turn] || [];
    var q = {};
    items.forEach(function (it) { q[it.id] = it; });
    var box = h("div", {"class": "checklist panel", "data-testid": "checklist", "data-turn": tr.turn});
    box.appendChild(h("div", null, h("b", null, "Checklist, turn " + tr.turn), " · turn score ",
      h("b", {"data-testid": "turn-score"}, fmt(tr.score)),
      tr.required_failed.length ? [" · ", badge("failed", "required for the next turn failed: " + tr.required_failed.join(", "))] : null));
    var rows = tr.verdicts.map(function (v) {
      var it = q[v.id];
      var status = v.gated ? "gated" : v.status;
      var tds = [
        h("td", null, h("b", null, v.id), it ? h("div", {"class": "muted"}, it.question) : null),
        h("td", null, badge(v.status, null, "verdict-status"),
          v.gated ? h("div", {"class": "gatednote", "data-testid": "gated"}, "not counted: a dependency did not pass") : null),
        h("td", null, v.source || ""),
        h("td", null, v.msg !== null && v.msg !== undefined ? stepLink(v.msg, ctx, "step " + v.step + " → #" + v.msg) : (v.step === null || v.step === undefined ? "—" : "step " + v.step)),
        h("td", {"data-testid": "rationale"}, v.rationale || ""),
        h("td", {"class": "num"}, it ? fmt(it.weight, 2) : "")
      ];
      return h("tr", {"class": "v-" + status, "data-testid": "verdict", "data-item": v.id, "data-status": v.status,
        "data-counted": v.counted === false ? "false" : "true"}, tds);
    });
    box.appendChild(table(["item", "verdict", "judge", "satisfied at", "rationale", "#weight"], rows));
    return box;
  }

  function highlight(id) {
    var prev = document.querySelectorAll(".msg.hl");
    for (var k = 0; k < prev.length; k++) prev[k].classList.remove("hl");
    var el = document.getElementById(id);
    if (el) {
      el.classList.add("hl");
      el.setAttribute("data-highlighted", "1");
      el.scrollIntoView({block: "center"});
    }
  }

  function officialBox(ep) {
    var evs = ep.evaluations || {};
    return Object.keys(evs).map(function (name) {
      var e = evs[name];
      var cls = e.passed === true ? "pass" : e.passed === false ? "fail" : "";
      return h("div", {"class": "official " + cls, "data-testid": "official-verdict", "data-evaluator": name},
        h("div", null, h("b", null, "Official verdict (" + name + "): "),
          e.passed === true ? badge("passed", "valid") : e.passed === false ? badge("failed", "invalid") : badge("unjudged", "no verdict"),
          e.agree === true ? " · agrees with the checklist" : e.agree === false ? [" · ", badge("error", "disagrees with the checklist")] : "",
          e.registered ? "" : h("span", {"class": "muted"}, " (raw values)")),
        kv(e.fields || {}));
    });
  }

  function pageEpisode(app, r, i, msg) {
    var run = runs()[r], row = run && run.episodes[i];
    if (!row) { app.appendChild(h("p", {"class": "empty"}, "no such episode")); return; }
    app.appendChild(h("div", {"class": "muted"}, link("#/episodes/" + r, "← episodes of " + run.name),
      i > 0 ? [" · ", link("#/ep/" + r + "/" + (i - 1), "previous")] : null,
      i + 1 < run.episodes.length ? [" · ", link("#/ep/" + r + "/" + (i + 1), "next")] : null));
    app.appendChild(h("h1", {"data-testid": "episode-title"}, row.key));
    var holder = h("div", null, h("div", {"class": "empty"}, "loading…"));
    app.appendChild(holder);
    detail(r, i).then(function (ep) {
      holder.textContent = "";
      if (!ep) { holder.appendChild(h("p", {"class": "empty"}, "episode details missing")); return; }
      var meta = h("div", {"class": "epmeta"},
        h("span", null, "task ", h("b", null, ep.task)), h("span", null, "domain ", h("b", null, ep.domain || "?")),
        h("span", null, "score ", h("b", {"data-testid": "episode-score"}, fmt(ep.score))),
        h("span", null, "turn scores ", h("b", null, (ep.turn_scores || []).map(function (x) { return fmt(x); }).join(", ") || "—")),
        h("span", null, "end ", h("b", null, ep.end || "?")), h("span", null, "steps ", h("b", null, ep.steps)),
        h("span", null, "verdicts ", badge("passed", (ep.counts || {}).passed + " passed"), " ", badge("failed", (ep.counts || {}).failed + " failed"),
          (ep.counts || {}).unjudged ? [" ", badge("unjudged", ep.counts.unjudged + " unjudged")] : null,
          (ep.counts || {}).error ? [" ", badge("error", ep.counts.error + " error")] : null),
        h("span", {"class": "muted"}, "seed " + ep.seed + " · group " + ep.group + " · " + fmt(ep.elapsed_s, 3) + " s"));
      holder.appendChild(meta);
      // the same episode in the other runs
      var others = [];
      runs().forEach(function (o, k) {
        if (k === r) return;
        var j = -1;
        for (var x = 0; x < o.episodes.length; x++) if (o.episodes[x].key === ep.key) { j = x; break; }
        if (j >= 0) {
          var a = Math.min(k, r), b = Math.max(k, r);
          others.push([k ? " · " : "", link("#/ep/" + k + "/" + j, o.name), " (", link("#/compare/" + a + "/" + b + "/task/" + encodeURIComponent(ep.task), "side by side"), ")"]);
        }
      });
      if (others.length) holder.appendChild(h("div", {"class": "muted"}, "same episode in: ", others));
      officialBox(ep).forEach(function (b) { holder.appendChild(b); });
      if (ep.agent_error) holder.appendChild(h("div", {"class": "errbox"}, "agent error: " + ep.agent_error));
      (ep.errors || []).length && holder.appendChild(h("div", {"class": "errbox", "data-testid": "episode-errors"}, h("b", null, "errors"),
        h("ul", null, ep.errors.map(function (e) { return h("li", null, (e.type || "?") + (e.tool ? " (" + e.tool + ")" : "") + ": " + (e.message || "")); }))));
      (ep.warnings || []).length && holder.appendChild(h("div", {"class": "warnbox"}, h("b", null, "warnings"),
        h("ul", null, ep.warnings.map(function (w) { return h("li", null, String(w)); }))));
      var faults = (ep.agent_info || {}).injected_faults;
      if (faults && faults.length) holder.appendChild(h("div", {"class": "muted"}, "injected faults: " +
        faults.map(function (f) { return "turn " + f.turn + " step " + f.step + " " + f.fault; }).join("; ")));
      var roles = Object.keys(ep.usage || {});
      if (roles.length) holder.appendChild(h("div", {"class": "muted"}, "LLM usage: " + roles.map(function (k) {
        var u = ep.usage[k]; return k + " " + (u.calls || 0) + " call(s), " + num((u.prompt_tokens || 0) + (u.completion_tokens || 0)) + " tok, $" + fmt(u.cost || 0, 4);
      }).join(" · ")));
      var ctx = {prefix: "m-" + r + "-" + i + "-", href: function (k) { return "#/ep/" + r + "/" + i + "/m/" + k; }};
      holder.appendChild(transcript(ep, r, i, ctx));
      if (msg !== null) highlight(ctx.prefix + msg);
    });
  }

  function findComparison(a, b) {
    var cs = INDEX.comparisons || [];
    for (var k = 0; k < cs.length; k++) if (cs[k].a === a && cs[k].b === b) return cs[k];
    return null;
  }

  function pageCompare(app, a, b, task) {
    var cs = INDEX.comparisons || [];
    if (!cs.length) { app.appendChild(h("p", {"class": "empty"}, "give cm2 view two or more runs to compare them")); return; }
    var c = findComparison(a, b) || cs[0];
    a = c.a; b = c.b;
    var R = runs();
    var pick = h("select", {"data-testid": "compare-pick", onchange: function () { location.hash = "#/compare/" + pick.value; }},
      cs.map(function (x) { return h("option", {value: x.a + "/" + x.b}, R[x.b].name + "  vs  " + R[x.a].name + " (baseline)"); }));
    pick.value = a + "/" + b;
    app.appendChild(h("h1", null, "Comparison: ", R[b].name, " vs ", R[a].name));
    app.appendChild(h("div", {"class": "filters"}, h("label", null, "runs", pick)));
    if (task !== null) { pageSideBySide(app, c, task); return; }
    var sm = c.summary;
    var cards = h("div", {"class": "cards"},
      card("tasks compared", num(sm.shared_tasks), num(sm.matched_episodes) + " matched episodes"),
      card("mean score", fmt(sm.mean_a) + " → " + fmt(sm.mean_b), "Δ " + fmt(sm.mean_delta), "compare-mean"),
      card("tasks better / worse / same", sm.improved + " / " + sm.worsened + " / " + sm.unchanged),
      card("items flipped", num(sm.flips), sm.gained + " gained · " + sm.lost + " lost", "flip-count"));
    Object.keys(sm.official || {}).forEach(function (n) {
      var o = sm.official[n];
      cards.appendChild(card(o.label, pct(o.a) + " → " + pct(o.b)));
    });
    app.appendChild(cards);
    app.appendChild(h("h2", null, "Per-task score delta (largest first)"));
    var rows = c.tasks.map(function (t) {
      var d = t.delta;
      return h("tr", {"data-testid": "delta-row", "data-task": t.task, "data-delta": d === null ? "" : d},
        h("td", null, t.task), h("td", {"class": "num"}, fmt(t.a)), h("td", {"class": "num"}, fmt(t.b)),
        h("td", {"class": "num"}, h("span", {"class": d > 1e-9 ? "delta-pos" : d < -1e-9 ? "delta-neg" : ""}, d === null ? "n/a" : (d > 0 ? "+" : "") + fmt(d))),
        h("td", null, deltaBar(d)), h("td", {"class": "num"}, t.na + " / " + t.nb),
        h("td", null, t.ea !== null && t.ea !== undefined ? link("#/compare/" + a + "/" + b + "/task/" + encodeURIComponent(t.task), "side by side") : ""));
    });
    app.appendChild(h("div", {"class": "panel"}, table(["task", "#" + R[a].name, "#" + R[b].name, "#Δ", "", "#episodes", ""], rows,
      {"data-testid": "delta-table"})));
    app.appendChild(h("h2", null, "Items that flipped (" + num(sm.flips) + ")"));
    var shown = 200;
    var fbox = h("div", {"class": "panel"});
    function drawFlips() {
      fbox.textContent = "";
      fbox.appendChild(table(["task", "#turn", "item", R[a].name, R[b].name, "rationale (" + R[a].name + ")", "rationale (" + R[b].name + ")"],
        c.flips.slice(0, shown).map(function (f) {
          return h("tr", {"data-testid": "flip-row", "data-dir": f.dir},
            h("td", null, link("#/compare/" + a + "/" + b + "/task/" + encodeURIComponent(f.task), f.key)),
            h("td", {"class": "num"}, String(f.turn)), h("td", null, String(f.item)),
            h("td", null, statusBadge(f.from)), h("td", null, statusBadge(f.to)),
            h("td", null, f.ra || ""), h("td", null, f.rb || ""));
        }), {"data-testid": "flip-table"}));
      if (c.flips.length > shown) fbox.appendChild(h("button", {"class": "more", onclick: function () { shown += 500; drawFlips(); }}, "show more"));
    }
    drawFlips();
    app.appendChild(fbox);
  }
  function statusBadge(label) {
    var st = label.indexOf("not counted") >= 0 ? "gated" : label === "not reached" ? "unjudged" : label;
    return badge(st, label);
  }

  function pageSideBySide(app, c, task) {
    var t = null;
    c.tasks.forEach(function (x) { if (x.task === task) t = x; });
    app.appendChild(h("div", {"class": "muted"}, link("#/compare/" + c.a + "/" + c.b, "← all tasks")));
    if (!t || t.ea === null || t.ea === undefined) { app.appendChild(h("p", {"class": "empty"}, "no matched episode of task " + task)); return; }
    app.appendChild(h("h2", null, "Task " + task + ": Δ " + fmt(t.delta)));
    var grid = h("div", {"class": "sbs", "data-testid": "side-by-side"});
    app.appendChild(grid);
    [[c.a, t.ea], [c.b, t.eb]].forEach(function (p) {
      var col = h("div", null, h("h3", null, runs()[p[0]].name, " · ", link("#/ep/" + p[0] + "/" + p[1], runs()[p[0]].episodes[p[1]].key),
        " · score ", fmt(runs()[p[0]].episodes[p[1]].score)));
      grid.appendChild(col);
      detail(p[0], p[1]).then(function (ep) {
        if (!ep) return;
        officialBox(ep).forEach(function (b) { col.appendChild(b); });
        col.appendChild(transcript(ep, p[0], p[1], {prefix: "s-" + p[0] + "-" + p[1] + "-", href: null}));
      });
    });
  }

  function pageSweep(app) {
    var sw = INDEX.sweep;
    if (!sw) { app.appendChild(h("p", {"class": "empty"}, "not a sweep")); return; }
    app.appendChild(h("h1", null, "Sweep"));
    app.appendChild(h("div", {"class": "muted"}, sw.path));
    var hidden = ["out", "overrides", "agent_kwargs", "env_kwargs"];
    var cols = sw.columns.filter(function (c) { return hidden.indexOf(c) < 0; });
    var rows = sw.rows.map(function (row, k) {
      return cols.map(function (c) { return c === cols[0] ? link("#/summary/" + k, row[c], {title: row.overrides || ""}) : row[c]; })
        .concat([link("#/episodes/" + k, "episodes")]);
    });
    app.appendChild(h("div", {"class": "panel"}, table(cols.concat([""]), rows, {"data-testid": "sweep-table"})));
  }

  // ------------------------------------------------------------------------------------- routing
  function parseRoute() {
    var raw = location.hash.replace(/^#\/?/, ""), query = null, qi = raw.indexOf("?");
    if (qi >= 0) {
      query = {};
      raw.slice(qi + 1).split("&").forEach(function (kv) {
        if (!kv) return;
        var eq = kv.indexOf("="), k = eq < 0 ? kv : kv.slice(0, eq), v = eq < 0 ? "" : kv.slice(eq + 1);
        try { query[decodeURIComponent(k)] = decodeURIComponent(v.replace(/\+/g, " ")); } catch (e) { query[k] = v; }
      });
      raw = raw.slice(0, qi);
    }
    var parts = raw.split("/").map(function (p) { try { return decodeURIComponent(p); } catch (e) { return p; } });
    var n = function (k, d) { var v = parseInt(parts[k], 10); return isNaN(v) ? d : v; };
    switch (parts[0]) {
      case "episodes": return {page: "episodes", r: n(1, 0), query: query};
      case "ep": return {page: "ep", r: n(1, 0), i: n(2, 0), m: parts[3] === "m" ? n(4, null) : null};
      case "compare": return {page: "compare", a: n(1, 0), b: n(2, 1), task: parts[3] === "task" ? parts.slice(4).join("/") : null};
      case "sweep": return {page: "sweep"};
      case "summary": return {page: "summary", r: n(1, 0)};
      default: return {page: INDEX.sweep ? "sweep" : "summary", r: 0};
    }
  }

  function nav(route) {
    var el = document.getElementById("nav");
    el.textContent = "";
    var items = [["summary", "#/summary/" + (route.r || 0), "Summary"], ["episodes", "#/episodes/" + (route.r || 0), "Episodes"]];
    if ((INDEX.comparisons || []).length) items.push(["compare", "#/compare/0/1", "Compare"]);
    if (INDEX.sweep) items.push(["sweep", "#/sweep", "Sweep"]);
    items.forEach(function (it) {
      el.appendChild(h("a", {href: it[1], "class": route.page === it[0] || (route.page === "ep" && it[0] === "episodes") ? "on" : null}, it[2]));
    });
    document.getElementById("title").textContent = INDEX.title || "";
  }

  function routeKey() {
    var route = parseRoute();
    if (route.page === "ep") return "ep/" + route.r + "/" + route.i;
    if (route.page === "episodes") return "episodes/" + route.r;
    return location.hash;
  }

  function render(force) {
    var route = parseRoute();
    var key = routeKey();
    if (!force && key === CURRENT && (route.page === "ep" || (route.page === "episodes" && !route.query))) {   // a step link within the episode drawn: just jump
      if (route.page === "ep" && route.m !== null) highlight("m-" + route.r + "-" + route.i + "-" + route.m);
      return;
    }
    CURRENT = key;
    nav(route);
    var app = document.getElementById("app");
    var scroll = force ? window.scrollY : 0;
    app.textContent = "";
    app.setAttribute("data-page", route.page);
    if (route.page === "summary") pageSummary(app, route.r);
    else if (route.page === "episodes") pageEpisodes(app, route.r, route.query);
    else if (route.page === "ep") pageEpisode(app, route.r, route.i, route.m);
    else if (route.page === "compare") pageCompare(app, route.a, route.b, route.task);
    else if (route.page === "sweep") pageSweep(app);
    if (force) window.scrollTo(0, scroll); else if (route.page !== "ep" || route.m === null) window.scrollTo(0, 0);
  }

  // ------------------------------------------------------------------------------------- live mode
  function poll() {
    fetch("version.json", {cache: "no-store"}).then(function (r) { return r.json(); }).then(function (v) {
      var liveEl = document.getElementById("live");
      if (v.version !== VERSION) {
        return fetch("index.json?v=" + encodeURIComponent(v.version), {cache: "no-store"}).then(function (r) { return r.json(); })
          .then(function (idx) {
            INDEX = idx; VERSION = idx.version; SEARCH = {};
            var route = parseRoute();
            if (route.page !== "ep" && route.page !== "compare") render(true);
            liveEl.textContent = "live · " + idx.runs.reduce(function (s, x) { return s + x.episodes.length; }, 0) + " episodes · updated " + new Date().toLocaleTimeString();
            liveEl.setAttribute("data-version", VERSION);
          });
      }
    }).catch(function () {
      document.getElementById("live").textContent = "live · server unreachable";
    }).then(function () { setTimeout(poll, 1500); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.body.setAttribute("data-dom-ready-ms", performance.now().toFixed(1));
  });
  window.addEventListener("hashchange", function () { render(false); });
  render(false);
  document.body.setAttribute("data-render-ms", (performance.now() - T0).toFixed(1));
  document.body.setAttribute("data-ready", "1");
  if (LIVE) { document.getElementById("live").textContent = "live"; setTimeout(poll, 1500); }
})();
