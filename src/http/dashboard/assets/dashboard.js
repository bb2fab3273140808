// authgate dashboard: the live tail of audit events (server-sent events).
// Served from the binary; the CSP allows no inline script.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var tail = document.getElementById("tail");
  if (!tail || !window.EventSource) {
    return;
  }
  var status = document.getElementById("tail-status");
  var body = tail.tBodies[0];
  var after = tail.getAttribute("data-after");
  var url = "/dashboard/events/" + (after ? "?after=" + encodeURIComponent(after) : "");
  var source = new EventSource(url);

  function cell(row, text, href) {
    var td = row.insertCell(-1);
    if (href && text) {
      var a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      td.appendChild(a);
    } else {
      td.textContent = text || "";
    }
  }

  source.addEventListener("open", function () {
    status.textContent = "Live";
  });
  source.addEventListener("error", function () {
    status.textContent = "Reconnecting…";
  });
  source.addEventListener("audit", function (message) {
    var e = JSON.parse(message.data);
    var row = body.insertRow(0);
    row.className = "fresh";
    row.setAttribute("data-id", e.id);
    cell(row, e.at);
    cell(row, e.action);
    cell(row, e.outcome);
    cell(row, e.user_id, e.user_id ? "/dashboard/users/" + encodeURIComponent(e.user_id) + "/" : null);
    cell(row, e.actor_id);
    cell(row, e.ip);
    while (body.rows.length > 100) {
      body.deleteRow(body.rows.length - 1);
    }
  });
});
