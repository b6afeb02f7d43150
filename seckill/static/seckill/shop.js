// The buyer's page (seckill/templates/shop/product.html), over the public API (docs/API.md):
//   sign in (POST /api/auth/token/) -> the product (GET /api/products/<id>/, every 2 s) and the server's clock
//   (GET /api/time/: this device's offset, so the countdown is the server's) -> from the path lead time, a
//   product sold with a challenge gets it solved in Web Workers (ALTCHA's solver) and a path taken -> at the
//   start, Buy: POST /api/seckill/ with the path, a 202 followed to its outcome -> the order, its pay-by
//   countdown and the demo Pay button. A product sold by draw (docs/draw.md): Enter the draw, the entry's code and
//   result (GET its result_url: entered, waitlisted, success with the order, not drawn), the countdown to the
//   draw and the draw's public record (GET draw_url: the seed's commitment, then the seed and the entry list).
//   Every refusal is said in words.
(function () {
  "use strict";
  const root = document.getElementById("shop");
  const productId = Number(root.dataset.productId);
  const $ = (id) => document.getElementById(id);
  const state = { token: null, username: null, offsetMs: 0, product: null, path: null, busy: false, order: null };
  state.entry = null; // a draw's entry, as its result_url answers it
  state.record = null; // a draw's public record
  state.prepareAfter = 0; // after a refused preparation, the next try waits a few seconds

  const REFUSALS = {
    sold_out: "Sold out: every unit is taken.",
    already_purchased: "You already bought this product (one order per buyer).",
    sale_not_started: "The sale has not started yet.",
    sale_ended: "The sale has ended.",
    sale_disabled: "This sale is switched off.",
    busy: "Too many buyers at this moment: trying again…",
    rate_limited: "Too many requests from you: wait a moment and try again.",
    unavailable: "The shop cannot take purchases right now; nothing was sold. Try again.",
    blacklisted: "This account or network may not buy.",
    user_inactive: "This account is deactivated.",
    path_required: "This sale needs a purchase path first: press Buy again.",
    path_invalid: "The purchase path was not accepted: press Buy again.",
    path_expired: "The purchase path expired: press Buy again for a new one.",
    path_used: "That purchase path was used already: press Buy again for a new one.",
    path_other_buyer: "That purchase path belongs to another buyer.",
    path_other_product: "That purchase path is for another product.",
    path_not_open: "Purchase paths are not issued yet: the page gets one when they are.",
    challenge_invalid: "The device check failed: press Buy again.",
    challenge_expired: "The device check took too long: press Buy again.",
    challenge_used: "That device check was used already: press Buy again.",
    not_drawn: "Not drawn this time. Thank you for entering.",
    not_authenticated: "Sign in first.",
    authentication_failed: "Your sign-in expired: sign in again.",
  };

  function say(text, kind) {
    const status = $("status");
    status.textContent = text;
    status.className = kind || "";
  }

  function serverNow() {
    return Date.now() + state.offsetMs;
  }

  async function api(method, url, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.token) headers.Authorization = "Bearer " + state.token;
    const extra = body && body.idempotencyKey ? { "Idempotency-Key": body.idempotencyKey } : {};
    if (body && body.idempotencyKey) delete body.idempotencyKey;
    const response = await fetch(url, {
      method,
      headers: Object.assign(headers, extra),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
    let data = {};
    try {
      data = await response.json();
    } catch (e) {
      data = { code: "unavailable" };
    }
    return { status: response.status, data, retryAfter: Number(response.headers.get("Retry-After") || 0) };
  }

  // --- the server's clock ---------------------------------------------------------------------------------
  async function measureOffset() {
    // The offset from the fastest of a few round trips: the server's time at its middle.
    let best = null;
    for (let i = 0; i < 5; i++) {
      const sent = Date.now();
      const answer = await api("GET", "/api/time/");
      const received = Date.now();
      const rtt = received - sent;
      if (answer.status === 200 && (best === null || rtt < best.rtt)) {
        best = { rtt, offset: answer.data.epoch_ms - (sent + rtt / 2) };
      }
    }
    if (best) {
      state.offsetMs = Math.round(best.offset);
      const ahead = state.offsetMs <= 0 ? "ahead of" : "behind";
      $("clock-offset").textContent = `${Math.abs(state.offsetMs)} ms ${ahead} the server, ±${Math.ceil(best.rtt / 2)} ms`;
    }
  }

  // --- the product ----------------------------------------------------------------------------------------
  const PROTECTION = { off: "none", path: "one-time purchase path", challenge: "device check + purchase path" };

  async function loadProduct() {
    const answer = await api("GET", `/api/products/${productId}/`);
    if (answer.status !== 200) return;
    const p = answer.data;
    state.product = p;
    $("product-name").textContent = p.name;
    $("product-price").textContent = p.price;
    const drawOpen = p.sale_mode === "draw" && p.status !== "ended"; // (its units are drawn at the end)
    $("product-stock-label").textContent = drawOpen ? "Units" : "Left";
    $("product-stock").textContent = drawOpen ? `${p.stock_total}` : `${p.stock_left} of ${p.stock_total}`;
    $("product-status").textContent = p.status.replace(/_/g, " ");
    $("product-anti-bot").textContent = PROTECTION[p.anti_bot] || p.anti_bot;
    if (isDraw()) await loadDraw();
  }

  // --- a draw ---------------------------------------------------------------------------------------------
  function isDraw() {
    return state.product !== null && state.product.sale_mode === "draw";
  }

  async function loadDraw() {
    $("draw").hidden = false;
    $("buy").textContent = "Enter the draw";
    const drawAt = new Date(Date.parse(state.product.end_time));
    $("draw-at").textContent = drawAt.toLocaleString();
    $("draw-at").setAttribute("datetime", state.product.end_time);
    if (!state.record || !state.record.drawn) {
      const answer = await api("GET", state.product.draw_url);
      if (answer.status === 200) state.record = answer.data;
    }
    const r = state.record;
    if (r) {
      $("draw-commitment").textContent = r.seed_sha256;
      $("draw-published").hidden = !r.drawn;
      if (r.drawn) {
        $("draw-seed").textContent = r.seed;
        $("draw-digest").textContent = r.entries_sha256;
        $("draw-count").textContent = r.entries_count;
        $("draw-units").textContent = r.units;
        $("draw-winners").textContent = r.winners;
        $("draw-list").href = r.entries_url;
      }
    }
    if (state.token && !state.entryAsked) await loadEntry(); // (an entry made earlier, or in another tab)
  }

  async function loadEntry() {
    state.entryAsked = true;
    const answer = await api("GET", `/api/seckill/${productId}/entry/`);
    if (["entered", "waitlisted", "success", "lapsed", "not_drawn"].includes(answer.data.code)) showEntry(answer.data);
  }

  const ENTRY_RESULTS = {
    entered: () => "You are in the draw: the result comes when it is drawn.",
    waitlisted: (e) => `Not drawn yet: you are number ${e.position} on the waitlist, until ${new Date(Date.parse(e.waitlist_until)).toLocaleTimeString()}.`,
    success: () => "You won! Pay your order below.",
    lapsed: () => "You were drawn, but the order was not paid in time: its unit went to the waitlist.",
    not_drawn: () => REFUSALS.not_drawn,
  };

  function showEntry(entry) {
    const wasWon = state.entry && state.entry.code === "success";
    const final = ["success", "lapsed", "not_drawn"].includes(entry.code);
    state.entry = Object.assign({}, entry, { final });
    $("entry").hidden = false;
    $("entry-code").textContent = entry.entry_code;
    $("entry-result").textContent = ENTRY_RESULTS[entry.code](entry);
    $("entry-result").className = entry.code === "success" ? "ok" : final && entry.code !== "success" ? "refused" : "";
    if (entry.code === "success" && !wasWon) showOrder(entry.order_id);
  }

  function startMs() {
    return state.product ? Date.parse(state.product.start_time) : Infinity;
  }

  function two(n) {
    return String(n).padStart(2, "0");
  }

  function duration(ms) {
    const s = Math.max(0, Math.ceil(ms / 1000));
    const h = Math.floor(s / 3600);
    return (h ? h + ":" : "") + two(Math.floor((s % 3600) / 60)) + ":" + two(s % 60);
  }

  function tick() {
    const now = serverNow();
    $("server-clock").textContent = new Date(now).toLocaleTimeString();
    if (!state.product) return;
    const left = startMs() - now;
    const ended = now >= Date.parse(state.product.end_time);
    if (isDraw()) {
      const toDraw = Date.parse(state.product.end_time) - now;
      const drawn = state.record && state.record.drawn;
      $("countdown").textContent = left > 0 ? `Entries open in ${duration(left)}` : toDraw > 0
        ? `Draw in ${duration(toDraw)}` : drawn ? "Drawn" : "Drawing…";
    } else {
      $("countdown").textContent = ended ? "Ended" : left > 0 ? `Starts in ${duration(left)}` : "On sale now";
    }
    const open = left <= 0 && !ended;
    const entered = isDraw() && state.entry !== null;
    $("buy").disabled = !state.token || !open || state.busy || state.order !== null || entered;
    // A path (and its challenge) taken ahead, from the lead time: a slow device is ready at the opening.
    const lead = (state.product.path_lead_seconds || 0) * 1000;
    const due = Date.now() >= state.prepareAfter;
    const wanted = state.token && state.product.anti_bot !== "off" && !state.path && state.order === null;
    if (wanted && !state.busy && !ended && left <= lead && due) {
      prepare().catch((error) => {
        state.prepareAfter = Date.now() + 5000;
        say(error.answer ? explain(error.answer) : "The shop did not answer; trying again.", "refused");
      });
    }
    if (state.order) orderTick();
  }

  // --- the challenge, solved by ALTCHA's worker -----------------------------------------------------------
  async function stepMs(challenge) {
    // What one step of the solver costs on this device (a few PBKDF2 derivations as the worker does them), for
    // the progress bar's estimate.
    const p = challenge.parameters;
    const salt = new Uint8Array(16);
    const started = performance.now();
    for (let i = 0; i < 8; i++) {
      const key = await crypto.subtle.importKey("raw", new Uint8Array([i]), { name: "PBKDF2" }, false, ["deriveKey"]);
      const derived = await crypto.subtle.deriveKey(
        { name: "PBKDF2", salt, iterations: p.cost, hash: "SHA-256" },
        key,
        { name: "AES-GCM", length: 256 },
        true,
        ["encrypt"]
      );
      await crypto.subtle.exportKey("raw", derived);
    }
    return (performance.now() - started) / 8;
  }

  async function solve(challenge) {
    const workers = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2));
    const expectedSteps = 0.75 * (state.product.challenge_cost || 1);
    const expectedMs = (expectedSteps * (await stepMs(challenge))) / workers;
    const started = performance.now();
    $("solving").hidden = false;
    const progress = setInterval(() => {
      const done = Math.min(99, Math.round((100 * (performance.now() - started)) / expectedMs));
      $("solve-progress").value = done;
      $("solve-text").textContent = `${done} %`;
    }, 100);
    const pool = [];
    try {
      const solution = await new Promise((resolve, reject) => {
        let failed = 0;
        for (let i = 0; i < workers; i++) {
          const worker = new Worker(root.dataset.solverUrl);
          pool.push(worker);
          worker.onmessage = (message) => {
            if (message.data && message.data.derivedKey) resolve(message.data);
            else if (++failed === workers) reject(new Error("not solved"));
          };
          worker.onerror = () => {
            if (++failed === workers) reject(new Error("solver failed"));
          };
          worker.postMessage({ type: "work", challenge, counterStart: i, counterStep: workers, timeout: 120000 });
        }
      });
      $("solve-progress").value = 100;
      state.solvedIn = `${((performance.now() - started) / 1000).toFixed(1)} s`;
      $("solve-text").textContent = `done in ${state.solvedIn}`;
      const payload = { challenge, solution: { counter: solution.counter, derivedKey: solution.derivedKey } };
      return btoa(JSON.stringify(payload));
    } finally {
      clearInterval(progress);
      pool.forEach((worker) => worker.terminate());
    }
  }

  // --- the path -------------------------------------------------------------------------------------------
  let preparing = null;

  function prepare() {
    // One preparation at a time: the challenge (if the product has one), then the path.
    if (!preparing) {
      preparing = (async () => {
        const body = {};
        if (state.product.anti_bot === "challenge") {
          say("Getting a device check…");
          const challenge = await api("GET", `/api/seckill/${productId}/challenge/`);
          if (challenge.status !== 200) throw refusal(challenge);
          say("Solving the device check…");
          body.solution = await solve(challenge.data);
        }
        const issued = await api("POST", `/api/seckill/${productId}/path/`, body);
        if (issued.status !== 200) throw refusal(issued);
        state.path = { token: issued.data.path, expires: Date.parse(issued.data.expires_at) };
        const checked = state.solvedIn ? ` (device checked in ${state.solvedIn})` : "";
        say((serverNow() < startMs() ? "Ready: Buy opens at the start" : "Ready to buy") + checked + ".", "ok");
        $("solving").hidden = true;
      })().finally(() => {
        preparing = null;
      });
    }
    return preparing;
  }

  function refusal(answer) {
    const error = new Error(answer.data.code || "unavailable");
    error.answer = answer;
    return error;
  }

  function explain(answer) {
    const code = answer.data.code || "unavailable";
    return REFUSALS[code] || answer.data.detail || `Refused: ${code}`;
  }

  // --- the purchase ---------------------------------------------------------------------------------------
  function newKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    return "shop-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  const PATH_REFUSALS = ["path_used", "path_expired", "path_invalid", "path_required"];

  async function buy() {
    state.busy = true;
    tick();
    const deadline = Date.now() + 60000;
    const key = newKey(); // one per click: a retry after `busy` or with a new path is the same attempt
    let newPathTaken = false;
    try {
      while (Date.now() < deadline) {
        if (state.product.anti_bot !== "off" && (!state.path || state.path.expires <= serverNow())) {
          state.path = null;
          await prepare();
        }
        say("Sending your purchase…");
        const body = { product_id: productId, idempotencyKey: key };
        if (state.path) body.path = state.path.token;
        let answer = await api("POST", "/api/seckill/", body);
        if (PATH_REFUSALS.includes(answer.data.code) && !newPathTaken) {
          // once per click: a new path (and the product's settings again: they may have changed)
          newPathTaken = true;
          state.path = null;
          await loadProduct();
          continue;
        }
        state.path = answer.status === 429 ? state.path : null; // spent (or useless) after an answer
        if (answer.status === 202 && answer.data.code === "entered") {
          say("Entered. Good luck!", "ok");
          showEntry(answer.data);
          return;
        }
        while (answer.status === 202 && Date.now() < deadline) {
          say("Your purchase is being decided…");
          await sleep(500);
          answer = await api("GET", answer.data.result_url);
        }
        if (answer.status === 200 && answer.data.code === "success") {
          say("Bought!", "ok");
          loadProduct();
          await showOrder(answer.data.order_id);
          return;
        }
        if (answer.status === 429 && answer.data.code === "busy" && Date.now() < deadline) {
          say(explain(answer));
          await sleep(1000 * Math.max(1, answer.retryAfter) * (0.5 + Math.random()));
          continue;
        }
        say(answer.status === 202 ? "Still being decided: press Buy again to see how it ended." : explain(answer),
          "refused");
        if (answer.data.code === "already_purchased") await showOwnOrder();
        return;
      }
      say("Too many buyers for too long: press Buy to try again.", "refused");
    } catch (error) {
      const unanswered = "The shop did not answer. Press Buy again: if your purchase went through, it will say so.";
      say(error.answer ? explain(error.answer) : unanswered, "refused");
    } finally {
      state.busy = false;
      $("solving").hidden = true;
      tick();
    }
  }

  // --- the order ------------------------------------------------------------------------------------------
  async function showOrder(orderId) {
    const answer = await api("GET", `/api/orders/${orderId}/`);
    if (answer.status !== 200) return;
    state.order = answer.data;
    $("order").hidden = false;
    $("order-id").textContent = `#${state.order.id}`;
    $("order-quantity").textContent = state.order.quantity;
    $("order-price").textContent = state.order.unit_price;
    orderTick();
    $("order-title").focus();
  }

  async function showOwnOrder() {
    // The buyer's live order of this product (they bought it earlier, or from another tab), if it is on the
    // first page of their orders.
    const answer = await api("GET", "/api/orders/?page_size=50");
    const live = ["pending_payment", "paid"];
    const mine = answer.status === 200 &&
      answer.data.results.find((o) => o.product_id === productId && live.includes(o.status));
    if (mine) await showOrder(mine.id);
  }

  function orderTick() {
    const order = state.order;
    $("order-status").textContent = order.status.replace(/_/g, " ");
    const payable = order.status === "pending_payment" && order.pay_by;
    $("order-pay-by").hidden = !payable;
    $("pay").hidden = !payable;
    if (payable) {
      const left = Date.parse(order.pay_by) - serverNow();
      $("order-countdown").textContent = duration(left);
      $("pay").disabled = left <= 0;
    }
  }

  async function pay() {
    $("pay").disabled = true;
    const answer = await api("POST", `/api/orders/${state.order.id}/pay/`, {});
    if (answer.status === 200) {
      state.order = answer.data;
      say("Paid. Thank you!", "ok");
    } else {
      say(answer.data.detail || explain(answer), "refused");
    }
    orderTick();
  }

  // --- sign in --------------------------------------------------------------------------------------------
  function signedIn(token, username) {
    state.token = token;
    state.username = username;
    sessionStorage.setItem("seckill-shop", JSON.stringify({ token, username }));
    $("signin").hidden = !!token;
    $("signed-in").hidden = !token;
    $("signed-in-name").textContent = username || "";
    if (token && isDraw()) loadEntry();
    tick();
  }

  $("signin").addEventListener("submit", async (event) => {
    event.preventDefault();
    const username = $("username").value;
    const answer = await api("POST", "/api/auth/token/", { username, password: $("password").value });
    if (answer.status === 200) {
      signedIn(answer.data.access, username);
      say("Signed in.", "ok");
      $("buy").focus();
    } else {
      say(answer.status === 429 ? explain(answer) : "Wrong user name or password.", "refused");
    }
  });
  $("signout").addEventListener("click", () => {
    sessionStorage.removeItem("seckill-shop");
    state.path = null;
    state.entry = null;
    state.entryAsked = false;
    state.order = null;
    $("entry").hidden = true;
    $("order").hidden = true;
    signedIn(null, null);
    $("username").focus();
  });
  $("buy").addEventListener("click", buy);
  $("pay").addEventListener("click", pay);

  async function followDraw() {
    // After the draw, the record until it is published, and the entry's result until it is final: every 2 s
    // (a second of jitter, so that a crowd's pages do not ask at once), every 30 s while on the waitlist.
    if (!isDraw() || serverNow() < Date.parse(state.product.end_time) + state.jitterMs) return;
    if (Date.now() < state.nextFollow) return;
    if (!state.record || !state.record.drawn) await loadDraw();
    if (state.token && state.entry && !state.entry.final) await loadEntry();
    const waiting = state.entry && state.entry.code === "waitlisted";
    state.nextFollow = Date.now() + (waiting ? 30000 : 2000);
  }
  state.jitterMs = Math.floor(Math.random() * 1000);
  state.nextFollow = 0;

  const saved = JSON.parse(sessionStorage.getItem("seckill-shop") || "null");
  if (saved && saved.token) signedIn(saved.token, saved.username);
  measureOffset().then(loadProduct).then(tick);
  setInterval(tick, 250);
  setInterval(loadProduct, 2000);
  setInterval(() => followDraw().catch(() => {}), 1000);
})();
