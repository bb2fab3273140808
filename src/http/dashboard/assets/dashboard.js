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

// The sign-in's proof of work (contract §20): when the page carries an
// `altcha` field, the password is sent with a solved challenge, found here
// as the ALTCHA widget would find it.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("signin-form");
  var field = form && form.querySelector("input[name=altcha]");
  if (!field) {
    return;
  }
  form.addEventListener("submit", function (event) {
    if (field.value) {
      return;
    }
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    fetch("/api/v1/auth/challenge/?format=altcha", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(solve)
      .then(function (solution) {
        field.value = solution;
        form.submit();
      })
      .catch(function () {
        button.disabled = false;
      });
  });

  async function solve(c) {
    for (var n = 0; n <= c.maxnumber; n++) {
      if ((await sha256hex(c.salt + n)) === c.challenge) {
        var payload = { algorithm: c.algorithm, challenge: c.challenge, number: n, salt: c.salt, signature: c.signature };
        return btoa(JSON.stringify(payload));
      }
    }
    throw new Error("no solution");
  }

  // WebCrypto where the page is a secure context, else plain JavaScript.
  function sha256hex(text) {
    var bytes = new TextEncoder().encode(text);
    if (window.crypto && window.crypto.subtle) {
      return window.crypto.subtle.digest("SHA-256", bytes).then(hex);
    }
    return Promise.resolve(hex(sha256(bytes)));
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // FIPS 180-4 SHA-256 of a byte array.
  function sha256(bytes) {
    var k = [], h = [], i, j;
    var isPrime = function (n) { for (var d = 2; d * d <= n; d++) { if (n % d === 0) { return false; } } return true; };
    for (var p = 2, found = 0; found < 64; p++) {
      if (isPrime(p)) {
        if (found < 8) { h[found] = (Math.pow(p, 1 / 2) * 4294967296) | 0; }
        k[found++] = (Math.pow(p, 1 / 3) * 4294967296) | 0;
      }
    }
    var length = bytes.length, padded = new Uint8Array(((length + 9 + 63) >> 6) << 6);
    padded.set(bytes);
    padded[length] = 0x80;
    var view = new DataView(padded.buffer);
    view.setUint32(padded.length - 4, length * 8);
    view.setUint32(padded.length - 8, Math.floor(length / 536870912));
    var w = new Array(64);
    for (i = 0; i < padded.length; i += 64) {
      for (j = 0; j < 16; j++) { w[j] = view.getUint32(i + j * 4); }
      for (j = 16; j < 64; j++) {
        var a = w[j - 15], b = w[j - 2];
        var s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        var s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        w[j] = (w[j - 16] + s0 + w[j - 7] + s1) | 0;
      }
      var v = h.slice();
      for (j = 0; j < 64; j++) {
        var e = v[4], x = v[0];
        var t1 = v[7] + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
          ((e & v[5]) ^ (~e & v[6])) + k[j] + w[j];
        var t2 = (((x >>> 2) | (x << 30)) ^ ((x >>> 13) | (x << 19)) ^ ((x >>> 22) | (x << 10))) +
          ((x & v[1]) ^ (x & v[2]) ^ (v[1] & v[2]));
        v = [(t1 + t2) | 0, v[0], v[1], v[2], (v[3] + t1) | 0, v[4], v[5], v[6]];
      }
      for (j = 0; j < 8; j++) { h[j] = (h[j] + v[j]) | 0; }
    }
    var out = new Uint8Array(32), outView = new DataView(out.buffer);
    for (j = 0; j < 8; j++) { outView.setUint32(j * 4, h[j]); }
    return out.buffer;
  }
});
