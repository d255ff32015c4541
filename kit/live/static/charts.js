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
    var seg = el("span", { text: text });
    seg.style.width = Math.max(0, Math.min(100, 100 * (value || 0) / (max || 1))) + "%";
    seg.style.background = colour || OKABE[0];
    seg.style.justifyContent = "flex-end";
    seg.style.paddingRight = ".3em";
    b.appendChild(seg);
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
      var t = svg("text", { x: X(p.x) + 18, y: Y(p.y) + 9, "font-size": 26 }); t.textContent = p.label; s.appendChild(t);
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
