// The group dashboard page (kit.apps.dashboard_page): switches survey round, comparison and area
// in the browser and draws the chosen charts with the vendored Vega (kitVega, CSP-safe
// interpreter: no eval). Every number comes from the page's own data; nothing is fetched.
(function () {
  "use strict";
  var V = window.kitVega;
  var dataEl = document.getElementById("kit-dashboard-data");
  if (!V || !dataEl) return;
  var data = JSON.parse(dataEl.textContent);
  var specs = data.specs || {};
  if (data.lang === "nb") {
    V.formatLocale({ decimal: ",", thousands: "\u00a0", grouping: [3], currency: ["", " kr"], minus: "\u2212" });
  }
  var wave = document.getElementById("kit-wave");
  var compare = document.getElementById("kit-compare");
  var dimension = document.getElementById("kit-dimension");
  var subtitle = document.getElementById("kit-subtitle");
  var views = new WeakMap();

  function current(sel, fallback) {
    return sel ? sel.value : fallback;
  }

  function fitted(spec, width) {
    var s = JSON.parse(JSON.stringify(spec));
    var labels = Math.max(90, Math.min(260, Math.round(width * 0.42)));
    s.config = s.config || {};
    s.config.axis = Object.assign({}, s.config.axis, { labelLimit: labels });
    var y = s.encoding && s.encoding.y;
    if (y && y.axis) y.axis.labelLimit = labels;
    (s.layer || []).forEach(function (l) {
      if (l.encoding && l.encoding.y && l.encoding.y.axis) l.encoding.y.axis.labelLimit = labels;
    });
    if (width < 560) {
      // a phone: one legend entry per line, so the chart keeps its width and its type size
      s.config.legend = Object.assign({}, s.config.legend, { direction: "vertical", columns: 1, labelLimit: width - 60 });
      var colour = s.encoding && s.encoding.color;
      if (colour && colour.legend) colour.legend = Object.assign({}, colour.legend, { columns: 2, labelLimit: Math.round(width / 2) - 40 });
    }
    s.width = Math.max(120, Math.round(width - labels - 40));
    s.autosize = { type: "pad", contains: "padding" };
    return s;
  }

  function draw(figure, key) {
    var el = figure.querySelector(".kit-vis");
    var spec = specs[key];
    if (!el || !spec) return;
    var width = Math.round(el.clientWidth || figure.clientWidth || 430);
    if (figure.getAttribute("data-kit-drawn") === key && figure.getAttribute("data-kit-width") === String(width)) return;
    if (figure.getAttribute("data-kit-static") === key && !figure.getAttribute("data-kit-width")) {
      // drawn by the server: keep it where it fits, redraw to the width where it does not
      var drawn = el.querySelector("svg");
      var natural = drawn ? parseFloat(drawn.getAttribute("width") || "0") : 0;
      if (drawn && natural <= width + 2) {
        figure.setAttribute("data-kit-width", String(width));
        return;
      }
    }
    var old = views.get(figure);
    if (old) old.finalize();
    figure.removeAttribute("data-kit-drawn");
    var vg = V.compile(fitted(spec, width)).spec;
    var view = new V.View(V.parse(vg, null, { ast: true }), {
      renderer: "svg",
      container: el,
      hover: false,
      expr: V.expressionInterpreter
    });
    views.set(figure, view);
    view.runAsync().then(function () {
      var svg = el.querySelector("svg");
      if (svg) {
        svg.setAttribute("aria-hidden", "true");
        svg.setAttribute("focusable", "false");
      }
      figure.setAttribute("data-kit-drawn", key);
      figure.setAttribute("data-kit-width", String(width));
    }).catch(function (err) {
      figure.setAttribute("data-kit-error", "1");
      if (window.console) console.error(err);
    });
  }

  function visible(el) {
    for (var n = el; n && n !== document.body; n = n.parentElement) {
      if (n.hidden) return false;
    }
    return true;
  }

  function show() {
    var w = current(wave, "");
    var c = current(compare, null);
    var d = current(dimension, "");
    document.querySelectorAll(".kit-wave").forEach(function (block) {
      block.hidden = block.getAttribute("data-kit-wave") !== w;
    });
    document.querySelectorAll(".kit-dimension").forEach(function (block) {
      block.hidden = block.getAttribute("data-kit-dimension") !== d;
    });
    if (wave && subtitle) {
      var opt = wave.options[wave.selectedIndex];
      if (opt && opt.getAttribute("data-kit-subtitle")) subtitle.textContent = opt.getAttribute("data-kit-subtitle");
    }
    document.querySelectorAll("figure.kit-vl").forEach(function (figure) {
      if (!visible(figure)) return;
      var part = figure.getAttribute("data-kit-spec");
      if (part === "profile") {
        // the chosen comparison, or this round's own first one where the round lacks it (the
        // cohort may be shown for one round and not for another)
        var own = "profile|" + figure.getAttribute("data-kit-compare");
        part = "profile|" + (c || figure.getAttribute("data-kit-compare"));
        if (!specs[w + "|" + part]) part = own;
      }
      draw(figure, w + "|" + part);
    });
  }

  [wave, compare, dimension].forEach(function (sel) {
    if (sel) sel.addEventListener("change", show);
  });
  var form = document.getElementById("kit-controls");
  if (form) form.addEventListener("submit", function (e) { e.preventDefault(); });
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(show, 200);
  });
  show();
})();
