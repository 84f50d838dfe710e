/* Dispatch board: choose the day, collectors and accounts, plan, adjust stops, publish. */
(function () {
  "use strict";

  if (!App.requireLogin()) return;
  const t = App.t;
  const fmt = App.fmt;
  const POLL_MS = 700;
  const FINISHED = ["done", "failed", "published"];

  const map = App.baseMap("map");
  const zoneLayer = L.featureGroup().addTo(map);
  const planLayer = L.featureGroup().addTo(map);
  const state = { collectors: new Map(), plan: null, stop: null, polling: null };
  const $ = (id) => document.getElementById(id);

  function collectorName(id) {
    const c = state.collectors.get(id);
    return c ? c.username || c.code : "#" + id;
  }

  async function loadCollectors() {
    const collectors = await App.apiAll("/collectors?active=true");
    const box = $("collector-checks");
    box.innerHTML = "";
    for (const c of collectors) {
      state.collectors.set(c.id, c);
      const label = document.createElement("label");
      label.innerHTML =
        '<input type="checkbox" name="collector" value="' + c.id + '" checked> <i class="dot" style="background:' +
        Routes.collectorColor(c.id) + '"></i>' + App.escapeHtml(c.username) + " · " + App.escapeHtml(c.full_name);
      box.appendChild(label);
    }
    box.addEventListener("change", () => {
      const boxes = [...box.querySelectorAll("input")];
      $("all-collectors").checked = boxes.every((input) => input.checked);
    });
    $("all-collectors").addEventListener("change", (event) => {
      box.querySelectorAll("input").forEach((input) => {
        input.checked = event.target.checked;
      });
    });
  }

  async function loadZones() {
    const zones = await App.api("/zones");
    L.geoJSON(zones, {
      style: (f) => ({ color: f.properties.color, weight: 1, fillOpacity: 0.05 }),
    }).addTo(zoneLayer);
    if (zoneLayer.getLayers().length) map.fitBounds(zoneLayer.getBounds());
    for (const f of zones.features) {
      const option = document.createElement("option");
      option.value = f.properties.id;
      option.textContent = f.properties.name;
      $("zone").appendChild(option);
    }
  }

  async function loadBuckets() {
    const model = await App.kpiModel();
    const buckets = ((model.effectiveness || {}).buckets || []).map((b) => b.name);
    for (const name of buckets) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      $("bucket").appendChild(option);
    }
  }

  async function loadPlanList() {
    const select = $("plan-list");
    select.innerHTML = "";
    const plans = await App.apiAll("/plans?date=" + $("plan-date").value);
    for (const p of plans) {
      const option = document.createElement("option");
      option.value = p.id;
      option.textContent = "#" + p.id + " · " + t("dispatch.status." + p.status) + " · " + fmt.dateTime(p.created_at);
      select.appendChild(option);
    }
  }

  async function planRequest() {
    const body = {
      date: $("plan-date").value,
      time_limit_s: Number($("time-limit").value) || 10,
    };
    const chosen = [...document.querySelectorAll("#collector-checks input:checked")].map((i) => Number(i.value));
    if (chosen.length !== state.collectors.size) body.collector_ids = chosen;
    if ($("zone").value) body.zone_id = Number($("zone").value);
    if ($("segment").value.trim()) body.segment = $("segment").value.trim();
    if ($("top").value) body.top = Number($("top").value);
    if ($("bucket").value) {
      // The planner takes explicit accounts; the accounts API filters by bucket (and zone/segment).
      const query = new URLSearchParams({ bucket: $("bucket").value });
      if (body.zone_id) query.set("zone_id", String(body.zone_id));
      if (body.segment) query.set("segment", body.segment);
      const accounts = await App.apiAll("/accounts?" + query.toString());
      if (!accounts.length) throw new Error(t("dispatch.no_accounts"));
      body.account_ids = accounts.map((a) => a.id);
    }
    return body;
  }

  async function startPlan(event) {
    event.preventDefault();
    $("start-plan").disabled = true;
    try {
      const plan = await App.api("/plans", { method: "POST", body: await planRequest() });
      follow(plan);
    } catch (error) {
      App.notify(error instanceof App.ApiError ? App.explain(error) : error.message, "error");
      $("start-plan").disabled = false;
    }
  }

  function showProgress(plan) {
    $("progress-card").hidden = false;
    const percent = plan.status === "done" || plan.status === "published" ? 100 : Math.min(100, plan.progress || 0);
    const bar = $("progress-bar");
    bar.style.width = percent + "%";
    bar.dataset.progress = String(Math.round(percent));
    $("progress-text").textContent = Math.round(percent) + " %";
    $("plan-status").textContent = "#" + plan.id + " " + t("dispatch.status." + plan.status);
    $("plan-status").dataset.status = plan.status;
    $("best-value").textContent = fmt.money(plan.best_value);
    // A published plan edited afterwards can be published again.
    // The API refuses to publish an infeasible plan; the violations above say what to fix.
    const feasible = !plan.summary || plan.summary.feasible;
    $("publish").disabled = !["done", "published"].includes(plan.status) || !feasible;
    $("replan").disabled = !["done", "published"].includes(plan.status);
  }

  /** Poll the plan until it finishes, showing progress and the best plan so far. */
  function follow(plan) {
    clearTimeout(state.polling);
    showProgress(plan);
    if (FINISHED.includes(plan.status)) {
      $("start-plan").disabled = false;
      if (plan.status === "failed") App.notify(plan.error || t("dispatch.status.failed"), "error");
      render(plan);
      loadPlanList();
      return;
    }
    state.polling = setTimeout(async () => {
      try {
        follow(await App.api("/plans/" + plan.id));
      } catch (error) {
        App.notify(App.explain(error), "error");
        $("start-plan").disabled = false;
      }
    }, POLL_MS);
  }

  function render(plan) {
    state.plan = plan;
    planLayer.clearLayers();
    const routes = plan.routes || [];
    for (const route of routes) {
      if (!route.stops.length) continue;
      const color = Routes.collectorColor(route.collector_id);
      Routes.routeLine(route, color, false)
        .bindTooltip(collectorName(route.collector_id))
        .addTo(planLayer);
      for (const stop of route.stops) {
        const marker = L.marker([stop.lat, stop.lon], {
          icon: Routes.stopIcon(stop.sequence, color, stop.locked),
          title: String(stop.account_id),
        });
        marker.on("click", () => pickStop(stop.account_id, route.collector_id, stop));
        marker.addTo(planLayer);
      }
    }
    if (planLayer.getLayers().length) map.fitBounds(planLayer.getBounds(), { padding: [20, 20] });
    renderTotals(routes);
    renderUnassigned(plan.unassigned || []);
    const summary = plan.summary;
    $("plan-summary").innerHTML = summary
      ? t("dispatch.summary", {
          visits: summary.visits_planned,
          km: fmt.number(summary.km, 1),
          value: fmt.money(summary.value),
          share: fmt.percent(summary.value_share),
        }) +
        (summary.violations && summary.violations.length
          ? '<br><span class="error">' + t("dispatch.violations") + ": " +
            App.escapeHtml(summary.violations.slice(0, 5).join("; ")) +
            (summary.violations.length > 5 ? " … (+" + (summary.violations.length - 5) + ")" : "") +
            "</span>"
          : "")
      : "";
    if (state.stop) pickStop(state.stop.accountId);
  }

  function renderTotals(routes) {
    const rows = routes
      .filter((r) => r.stops.length)
      .map(
        (r) =>
          '<tr data-collector-id="' + r.collector_id + '"><td><i class="dot" style="background:' +
          Routes.collectorColor(r.collector_id) + '"></i>' + App.escapeHtml(collectorName(r.collector_id)) +
          '</td><td class="num visits">' + r.totals.visits + '</td><td class="num">' + fmt.number(r.totals.km, 1) +
          '</td><td class="num">' + fmt.number(r.totals.hours, 1) + '</td><td class="num">' +
          fmt.money(r.totals.value) + "</td><td>" + t(r.feasible ? "dispatch.yes" : "dispatch.no") + "</td></tr>",
      );
    $("totals").querySelector("tbody").innerHTML = rows.join("");
    const sum = (key) => routes.reduce((acc, r) => acc + (r.totals[key] || 0), 0);
    $("totals").querySelector("tfoot").innerHTML =
      '<tr class="total"><td>' + t("dispatch.total") + '</td><td class="num">' + sum("visits") +
      '</td><td class="num">' + fmt.number(sum("km"), 1) + '</td><td class="num">' + fmt.number(sum("hours"), 1) +
      '</td><td class="num">' + fmt.money(sum("value")) + "</td><td></td></tr>";
    $("totals").querySelectorAll("tbody tr").forEach((tr) => {
      tr.addEventListener("click", () => {
        const route = routes.find((r) => r.collector_id === Number(tr.dataset.collectorId));
        if (route && route.stops.length) {
          map.fitBounds(L.latLngBounds(route.stops.map((s) => [s.lat, s.lon])), { padding: [30, 30] });
        }
      });
    });
  }

  function renderUnassigned(unassigned) {
    $("unassigned-count").textContent = unassigned.length;
    $("unassigned").querySelector("tbody").innerHTML = unassigned
      .map(
        (u) =>
          '<tr data-account-id="' + u.account_id + '"><td>' + u.account_id + '</td><td class="num">' +
          fmt.money(u.value) + "</td><td>" + App.escapeHtml(u.reason) + "</td></tr>",
      )
      .join("");
    $("unassigned").querySelectorAll("tbody tr").forEach((tr) => {
      tr.addEventListener("click", () => pickStop(Number(tr.dataset.accountId)));
    });
  }

  function findStop(accountId) {
    for (const route of (state.plan && state.plan.routes) || []) {
      const stop = route.stops.find((s) => s.account_id === accountId);
      if (stop) return { route, stop };
    }
    return null;
  }

  function pickStop(accountId) {
    const found = findStop(accountId);
    state.stop = { accountId };
    $("stop-hint").hidden = true;
    $("stop-form").hidden = false;
    $("stop-label").textContent = found
      ? t("dispatch.account") + " " + accountId + " · " + collectorName(found.route.collector_id) + " #" +
        found.stop.sequence + " · ETA " + fmt.time(found.stop.eta)
      : t("dispatch.account") + " " + accountId + " · " + t("dispatch.unassigned");
    const select = $("move-to");
    select.innerHTML = "";
    for (const route of state.plan.routes) {
      const option = document.createElement("option");
      option.value = route.collector_id;
      option.textContent = collectorName(route.collector_id) + " (" + route.stops.length + ")";
      if (found && found.route.collector_id === route.collector_id) option.selected = true;
      select.appendChild(option);
    }
    $("move-position").value = found ? found.stop.sequence : "";
    $("lock-stop").checked = found ? found.stop.locked : false;
  }

  async function applyStop() {
    if (!state.plan || !state.stop) return;
    const change = { collector_id: Number($("move-to").value), locked: $("lock-stop").checked };
    if ($("move-position").value) change.position = Number($("move-position").value);
    $("apply-stop").disabled = true;
    try {
      const plan = await App.api("/plans/" + state.plan.id + "/stops/" + state.stop.accountId, {
        method: "PATCH",
        body: change,
      });
      render(plan);
      showProgress(plan);
      App.notify(t("dispatch.updated"));
    } catch (error) {
      App.notify(App.explain(error), "error");
    } finally {
      $("apply-stop").disabled = false;
    }
  }

  async function publish() {
    try {
      const plan = await App.api("/plans/" + state.plan.id + "/publish", { method: "POST" });
      showProgress(plan);
      render(plan);
      loadPlanList();
      App.notify(t("dispatch.published"));
    } catch (error) {
      App.notify(App.explain(error), "error");
    }
  }

  async function replan() {
    try {
      const plan = await App.api("/plans/" + state.plan.id + "/replan", {
        method: "POST",
        body: { time_limit_s: Number($("time-limit").value) || 10 },
      });
      follow(plan);
    } catch (error) {
      App.notify(App.explain(error), "error");
    }
  }

  async function openPlan() {
    const id = $("plan-list").value;
    if (!id) return;
    try {
      follow(await App.api("/plans/" + id));
    } catch (error) {
      App.notify(App.explain(error), "error");
    }
  }

  async function start() {
    // By default the next day with legal contact hours (the server knows the agency's policy).
    $("plan-date").value =
      new URLSearchParams(location.search).get("date") || $("plan-date").dataset.next || App.agencyDate(1);
    $("plan-form").addEventListener("submit", startPlan);
    $("plan-date").addEventListener("change", loadPlanList);
    $("open-plan").addEventListener("click", openPlan);
    $("apply-stop").addEventListener("click", applyStop);
    $("publish").addEventListener("click", publish);
    $("replan").addEventListener("click", replan);
    try {
      await Promise.all([loadCollectors(), loadZones(), loadBuckets(), loadPlanList()]);
    } catch (error) {
      App.notify(App.explain(error), "error");
    }
    document.body.dataset.ready = "1";
  }

  window.dispatchBoard = {
    plan: () => state.plan,
    pickStop,
  };

  start();
})();
