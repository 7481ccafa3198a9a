// Shows the page's times in the reader's time zone. The server writes them
// in the incident's configured zone (and UTC beside them), each in a
// <time datetime> with the instant in UTC; without JavaScript that is what
// the reader sees. This script is the only one a page may run: the
// Content-Security-Policy allows it by its hash and nothing else.
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  var marker = document.querySelector("[data-zone]");
  if (!zone || !marker || marker.getAttribute("data-zone") === zone) {
    return;
  }
  var fmt = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });
  var dayFmt = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone, weekday: "long", day: "numeric", month: "long", year: "numeric"
  });
  var monthFmt = new Intl.DateTimeFormat("en-US", { timeZone: zone, month: "short" });
  // Asking Intl for every one of 10,000 rows costs more than the rest of
  // the page: the zone's offset and name are asked once per quarter hour
  // (no zone changes its offset more often), the rest is arithmetic.
  var zones = {};
  function zoneAt(ms) {
    var q = Math.floor(ms / 900000);
    var z = zones[q];
    if (!z) {
      var at = q * 900000, o = {};
      fmt.formatToParts(new Date(at)).forEach(function (p) { o[p.type] = p.value; });
      var h = o.hour === "24" ? 0 : Number(o.hour);
      var wall = Date.UTC(Number(o.year), Number(o.month) - 1, Number(o.day), h, Number(o.minute), Number(o.second));
      z = zones[q] = { offset: wall - at, name: o.timeZoneName };
    }
    return z;
  }
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function parts(d) {
    var z = zoneAt(d.getTime()), w = new Date(d.getTime() + z.offset);
    var o = {
      year: String(w.getUTCFullYear()), month: pad(w.getUTCMonth() + 1), day: pad(w.getUTCDate()),
      hour: pad(w.getUTCHours()), minute: pad(w.getUTCMinutes()), second: pad(w.getUTCSeconds()), timeZoneName: z.name
    };
    o.date = o.year + "-" + o.month + "-" + o.day;
    o.clock = o.hour + ":" + o.minute + ":" + o.second;
    return o;
  }
  function instant(el) {
    var v = el.getAttribute("datetime") || el.getAttribute("data-t");
    if (!v || v.indexOf("T") < 0) { return null; }
    var d = new Date(v);
    return isNaN(d.getTime()) ? null : d;
  }

  // The timeline: each row's time, regrouped by the reader's calendar day.
  var lists = document.querySelectorAll("ol.tl");
  if (lists.length > 0) {
    var first = lists[0], className = first.className, parent = first.parentNode;
    var out = document.createDocumentFragment(), day = null, ol = null;
    var rows = [];
    lists.forEach(function (l) {
      for (var i = 0; i < l.children.length; i++) { rows.push(l.children[i]); }
    });
    rows.forEach(function (li) {
      var t = li.querySelector("time"), d = t && instant(t);
      if (!d) { if (ol) { ol.appendChild(li); } return; }
      var p = parts(d);
      if (p.date !== day) {
        day = p.date;
        var h = document.createElement("h3"), ht = document.createElement("time");
        ht.setAttribute("datetime", day);
        ht.textContent = dayFmt.format(d).replace(",", "");
        h.appendChild(ht);
        out.appendChild(h);
        ol = document.createElement("ol");
        ol.className = className;
        out.appendChild(ol);
      }
      t.textContent = p.clock;
      ol.appendChild(li);
    });
    parent.querySelectorAll("h3").forEach(function (h) { h.remove(); });
    lists.forEach(function (l) { l.remove(); });
    parent.appendChild(out);
  }

  // Every other time: date, time and zone.
  document.querySelectorAll("time[datetime]").forEach(function (t) {
    if (t.closest("ol.tl") || t.closest("h3")) { return; }
    var d = instant(t);
    if (!d) { return; }
    var p = parts(d);
    t.textContent = p.date + " " + p.clock + " " + p.timeZoneName;
  });
  // The strip's time axis.
  document.querySelectorAll("svg.strip text[data-t]").forEach(function (t) {
    var d = instant(t);
    if (!d) { return; }
    var p = parts(d), hm = p.hour + ":" + p.minute;
    t.textContent = t.textContent.indexOf(" ") > 0 ? monthFmt.format(d) + " " + Number(p.day) + " " + hm : hm;
  });
  // What the page says about its times.
  document.querySelectorAll(".zone").forEach(function (z) {
    z.textContent = zone + " (your browser's time zone)";
  });
})();
