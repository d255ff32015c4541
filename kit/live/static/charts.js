/* kit live: results as large, readable charts built from plain DOM and SVG (no libraries).
   Everything typed by a person is set with textContent, never as HTML. */
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";
  var SCALE = ["#b35806", "#f1a340", "#d9d9d9", "#998ec3", "#542788"];
  var OKABE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"];

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { e.textContent = attrs[k]; }
      else if (k === "cls") { e.className = attrs[k]; }
      else { e.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { e.appendChild(c); } });
    return e;
  }
  function svg(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function fmt(x, lang, digits) {
    if (x === null || x === undefined) { return "–"; }
    return Number(x).toLocaleString(lang === "nb" ? "nb-NO" : "en-GB",
      { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function pct(x, lang) { return x === null || x === undefined ? "–" : fmt(100 * x, lang, 0) + " %"; }
  function scaleColour(i, n) { return SCALE[Math.round(i * 4 / Math.max(1, n - 1))]; }

  function stacked(parts) {  // parts: [{n, colour, label}]
    var total = parts.reduce(function (s, p) { return s + (p.n || 0); }, 0) || 1;
    var b = el("div", { cls: "bar" });
    parts.forEach(function (p, i) {
      if (!p.n) { return; }
      var seg = el("span", { title: p.label + ": " + p.n, text: String(p.n) });
      seg.style.width = (100 * p.n / total) + "%";
      seg.style.background = p.colour;
      if (p.colour === "#d9d9d9" || p.colour === "#f1a340") { seg.className = "light"; }
      b.appendChild(seg);
    });
    return b;
  }
  function share(value, max, colour, text) {  // one bar of value/max with its number
    var b = el("div", { cls: "bar" });
    var width = Math.max(0, Math.min(100, 100 * (Number(value) || 0) / (max || 1)));
    if (!(width >= 0.05)) {  // zero (or too little to see): the empty track, no sliver of colour
      b.setAttribute("data-zero", "");
      return b;
    }
    var seg = el("span", { text: text });
    seg.style.width = width + "%";
    seg.style.background = colour || OKABE[0];
    seg.style.justifyContent = "flex-end";
    if (colour === "#d9d9d9" || colour === "#f1a340") { seg.className = "light"; }  // dark text
    b.appendChild(seg);
    if (width >= 6) { seg.style.paddingRight = ".3em"; return b; }
    seg.textContent = "";  // a short bar: its number beside it, in the track
    b.appendChild(el("span", { cls: "beside", text: text }));
    return b;
  }
  function row(label, bar) { return el("div", { cls: "row" }, [el("span", { cls: "label", text: label }), bar]); }
  function legend(labels, colours) {
    return el("div", { cls: "legend" }, labels.map(function (l, i) {
      var sw = el("i"); sw.style.background = colours[i];
      return el("span", {}, [sw, document.createTextNode(l)]);
    }));
  }
  function scatter(points, opts) {  // points: [{x, y, label}], axes min..max
    var W = 900, H = 560, P = 60;
    var s = svg("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", role: "img" });
    var lo = opts.min, hi = opts.max;
    function X(v) { return P + (v - lo) / (hi - lo) * (W - 2 * P); }
    function Y(v) { return H - P - (v - lo) / (hi - lo) * (H - 2 * P); }
    s.appendChild(svg("rect", { x: P, y: P, width: W - 2 * P, height: H - 2 * P, fill: "#f7f8fa", stroke: "#ccc" }));
    var mid = (lo + hi) / 2;
    s.appendChild(svg("line", { x1: X(mid), x2: X(mid), y1: P, y2: H - P, stroke: "#bbb", "stroke-dasharray": "6 4" }));
    s.appendChild(svg("line", { x1: P, x2: W - P, y1: Y(mid), y2: Y(mid), stroke: "#bbb", "stroke-dasharray": "6 4" }));
    var xl = svg("text", { x: W / 2, y: H - 14, "text-anchor": "middle", "font-size": 26 }); xl.textContent = opts.x; s.appendChild(xl);
    var yl = svg("text", { x: 20, y: H / 2, "text-anchor": "middle", "font-size": 26, transform: "rotate(-90 20 " + H / 2 + ")" });
    yl.textContent = opts.y; s.appendChild(yl);
    points.forEach(function (p, i) {
      if (p.x === null || p.y === null || p.x === undefined || p.y === undefined) { return; }
      s.appendChild(svg("circle", { cx: X(p.x), cy: Y(p.y), r: 12, fill: OKABE[i % OKABE.length] }));
      var right = X(p.x) > W * 0.65;  // labels near the right edge go to the left of the dot
      var t = svg("text", { x: X(p.x) + (right ? -18 : 18), y: Y(p.y) + 9, "font-size": 26,
        "text-anchor": right ? "end" : "start" });
      t.textContent = p.label; s.appendChild(t);
    });
    return s;
  }

  var draw = {
    pulse: function (r, res, T, lang) {
      var nodes = [];
      var labels = (r.scale && r.scale.labels) || [];
      var colours = (res.scale || []).map(function (v, i) { return scaleColour(i, res.scale.length); });
      nodes.push(legend((res.scale || []).map(function (v, i) { return v + " " + (labels[i] || ""); }), colours));
      (res.items || []).forEach(function (it) {
        var label = (it.disagreement ? "◆ " : "") + it.text;
        if (it.hidden) { nodes.push(row(label, el("span", { cls: "note", text: T("item_hidden", { n: res.min_n }) }))); return; }
        var parts = (res.scale || []).map(function (v, i) { return { n: it[String(v)] || 0, colour: colours[i], label: labels[i] || String(v) }; });
        nodes.push(row(label, stacked(parts)));
      });
      return nodes;
    },
    purpose: function (r, res, T, lang) {
      var nodes = [];
      if (res.agreed) { nodes.push(el("p", { cls: "agreed", text: res.agreed })); }
      var st = res.statements || [];
      var most = Math.max.apply(null, [1].concat(st.map(function (x) { return x.votes || 0; })));
      if (st.length && st[0].votes !== null && st[0].votes !== undefined) {
        st.forEach(function (x) { nodes.push(row(x.text, share(x.votes, most, OKABE[0], String(x.votes)))); });
      } else {
        nodes.push(el("div", { cls: "cards" }, st.map(function (x) { return el("div", { cls: "card", text: x.text }); })));
      }
      return nodes;
    },
    agenda_audit: function (r, res, T, lang) {
      var nodes = [legend([T("projector.actual"), T("projector.wanted")], [OKABE[0], OKABE[1]])];
      (res.split || []).forEach(function (x) {
        var label = ((r.focuses || []).filter(function (f) { return f.id === x.focus; })[0] || {}).label || x.focus;
        nodes.push(row(label, el("div", {}, [share(x.actual, 1, OKABE[0], pct(x.actual, lang)),
          share(x.wanted, 1, OKABE[1], pct(x.wanted, lang))])));
      });
      return nodes;
    },
    stakeholder_map: function (r, res, T, lang) {
      var axes = r.axes || [];
      var pts = (res.actors || []).map(function (a) { return { x: a.interest, y: a.power, label: a.actor }; });
      return [scatter(pts, { min: 1, max: 5, x: (axes[1] || {}).label || "", y: (axes[0] || {}).label || "" })];
    }
  };

  draw.poll = function (r, res, T, lang) {
    var nodes = [];
    if (res.kind === "scale") {
      var values = Object.keys(res.counts || {}).map(Number).sort(function (a, b) { return a - b; });
      var most = Math.max.apply(null, [1].concat(values.map(function (v) { return res.counts[String(v)]; })));
      values.forEach(function (v, i) {
        var lab = String(v);
        if (i === 0 && r.scale && r.scale.labels[0]) { lab += " " + r.scale.labels[0]; }
        if (i === values.length - 1 && r.scale && r.scale.labels[1]) { lab += " " + r.scale.labels[1]; }
        nodes.push(row(lab, share(res.counts[String(v)], most, scaleColour(i, values.length), String(res.counts[String(v)]))));
      });
      nodes.push(el("p", { cls: "value", text: T("mean_sd", { mean: fmt(res.mean, lang, 1), sd: fmt(res.sd, lang, 1), n: res.n }) }));
    } else if (res.kind === "ranking") {
      var top = Math.max.apply(null, [1].concat((res.options || []).map(function (o) { return o.borda; })));
      (res.options || []).forEach(function (o, i) {
        nodes.push(row((i + 1) + ". " + o.option, share(o.borda, top, OKABE[0], T("mean_rank", { rank: fmt(o.mean_rank, lang, 1) }))));
      });
    } else if (res.kind === "points") {
      var most2 = Math.max.apply(null, [1].concat((res.options || []).map(function (o) { return o.points; })));
      (res.options || []).forEach(function (o) {
        nodes.push(row(o.option, share(o.points, most2, OKABE[2], T("points_total", { points: fmt(o.points, lang, 0) }))));
      });
    } else if (res.kind === "matrix") {
      var axes = r.axes || res.axes || {};
      nodes.push(scatter((res.options || []).map(function (o) { return { x: o.x, y: o.y, label: o.option }; }),
        { min: 1, max: 5, x: axes.x || "", y: axes.y || "" }));
    }
    return nodes;
  };
  draw.wordcloud = function (r, res, T, lang) {
    var words = res.words || [];
    var most = Math.max.apply(null, [1].concat(words.map(function (w) { return w.count; })));
    var cloud = el("div", { cls: "cloud" });
    words.forEach(function (w, i) {
      var s = el("span", { text: w.word, title: String(w.count), "data-word": w.key });
      s.style.fontSize = (0.9 + 2.6 * Math.sqrt(w.count / most)) + "em";
      s.style.color = OKABE[i % OKABE.length];
      cloud.appendChild(s);
    });
    return [cloud];
  };
  draw.qa = function (r, res, T, lang) {
    return [el("div", { cls: "cards" }, (res.entries || []).map(function (e) {
      return el("div", { cls: "card", "data-entry": String(e.id) }, [
        el("span", { cls: "votes", text: e.votes === null || e.votes === undefined ? "" : "▲ " + e.votes }),
        document.createTextNode(e.text)]);
    }))];
  };
  draw.boundedness = function (r, res, T, lang) {
    var nodes = [legend([T("band.all"), T("band.some"), T("band.one")], [OKABE[2], OKABE[1], OKABE[5]])];
    var colour = { all: OKABE[2], some: OKABE[1], one: OKABE[5] };
    (res.names || []).forEach(function (n) {
      nodes.push(row(n.name, share(n.share, 1, colour[n.band], n.count + " · " + pct(n.share, lang))));
    });
    return nodes;
  };
  draw.decision_review = function (r, res, T, lang) {
    var nodes = [];
    var labels = {};
    (r.sources || []).forEach(function (s) { labels[s.id] = s.label; });
    if (res.breadth !== null && res.breadth !== undefined) {
      nodes.push(el("p", { cls: "value", text: T("breadth", { pct: pct(res.breadth, lang) }) }));
    }
    (res.decisions || []).forEach(function (d) {
      nodes.push(el("h2", { text: d.decision }));
      if (d.hidden) { nodes.push(el("p", { cls: "note", text: T("decision_hidden", { n: res.min_n }) })); return; }
      nodes.push(row(T("breadth", { pct: "" }).replace(/[:\s]+$/, ""), share(d.breadth, 1, OKABE[0], pct(d.breadth, lang))));
      (res.sources || []).forEach(function (src, i) {
        nodes.push(row(labels[src] || src, share(d[src], 1, OKABE[(i + 1) % OKABE.length], pct(d[src], lang))));
      });
    });
    return nodes;
  };
  draw.action_plan = function (r, res, T, lang) {
    return [el("div", { cls: "cards" }, (res.proposals || []).map(function (p) {
      return el("div", { cls: "card", text: p.text });
    }))];
  };

  window.KitCharts = {
    el: el, fmt: fmt, pct: pct, row: row, share: share, stacked: stacked, scatter: scatter,
    legend: legend, draw: draw, OKABE: OKABE, scaleColour: scaleColour,
    /* the nodes of a round's revealed results, or null when this page does not draw them */
    render: function (r, res, T, lang) {
      var f = draw[r.exercise];
      return f ? f(r, res, T, lang) : null;
    }
  };
})();
