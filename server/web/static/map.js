/* Live map: collectors' last positions by status, live over SSE; a collector's route and track. */
(function () {
  "use strict";

  const me = App.requireLogin();
  if (!me) return;
  const t = App.t;
  const fmt = App.fmt;
  const REFRESH_MS = 15000;
  const STALE_REFRESH_MS = 3000;
  const STATUSES = ["moving", "at_visit", "idle", "behind_plan", "no_signal", "off_shift", "no_position"];

  const params = new URLSearchParams(location.search);
  // Clustering helps when hundreds of collectors are shown; below this every marker stays visible.
  const CLUSTER_ABOVE = params.has("cluster_above") ? Number(params.get("cluster_above")) : 60;
  const map = App.baseMap("map");
  const zoneLayer = L.featureGroup().addTo(map);
  const routeLayer = L.featureGroup().addTo(map);
  const trackLayer = L.featureGroup().addTo(map);
  const replayLayer = L.featureGroup().addTo(map);
  let markerLayer = null;

  const state = {
    features: new Map(), // collector id -> live properties
    markers: new Map(), // collector id -> L.Marker
    selected: null,
    day: params.get("date") || App.agencyDate(0),
    dispositions: new Map(),
    replay: null,
  };

  function displayStatus(props, hasPosition) {
    if (!hasPosition) return "no_position";
    const active = props.status !== "off_shift" && props.status !== "no_signal";
    if (active && (props.alerts || []).includes("behind_plan")) return "behind_plan";
    return props.status;
  }

  function markerIcon(id, props, status) {
    const code = App.escapeHtml(props.code || props.username || id);
    const selected = state.selected === id ? " selected" : "";
    return L.divIcon({
      className: "",
      html:
        '<div class="cmarker status-' + status + selected + '" data-collector-id="' + id +
        '" title="' + App.escapeHtml(props.username) + '" style="width:28px;height:28px">' +
        code.slice(-3) + "</div>",
      iconSize: [28, 28],
      iconAnchor: [14, 14],
    });
  }

  function ensureMarkerLayer(count) {
    if (markerLayer) return;
    markerLayer =
      count > CLUSTER_ABOVE
        ? L.markerClusterGroup({ maxClusterRadius: 50, disableClusteringAtZoom: 16 })
        : L.featureGroup();
    markerLayer.addTo(map);
  }

  function placeMarker(id, lat, lon) {
    const props = state.features.get(id) || { code: String(id), status: "moving", alerts: [] };
    const status = displayStatus(props, true);
    let marker = state.markers.get(id);
    if (!marker) {
      marker = L.marker([lat, lon], { icon: markerIcon(id, props, status), riseOnHover: true });
      marker.on("click", () => select(id));
      state.markers.set(id, marker);
      markerLayer.addLayer(marker);
    } else {
      marker.setLatLng([lat, lon]);
      marker.setIcon(markerIcon(id, props, status));
      if (markerLayer.refreshClusters) markerLayer.refreshClusters(marker);
    }
  }

  function renderLegend() {
    const legend = document.getElementById("legend");
    legend.innerHTML =
      "<h2>" + t("map.legend") + "</h2>" +
      STATUSES.map(
        (s) => '<span><i class="dot status-' + s + '"></i>' + t("status." + s) + "</span>",
      ).join("");
  }

  function renderList() {
    const list = document.getElementById("collectors");
    const rows = [...state.features.entries()].sort((a, b) =>
      String(a[1].username).localeCompare(String(b[1].username)),
    );
    list.innerHTML = rows
      .map(([id, p]) => {
        const status = displayStatus(p, state.markers.has(id));
        return (
          '<li data-collector-id="' + id + '"' + (state.selected === id ? ' class="selected"' : "") +
          '><span><i class="dot status-' + status + '"></i>' + App.escapeHtml(p.username) +
          '</span><span class="muted">' + t("status." + status) + " · " +
          p.visits_done + "/" + p.visits_planned + "</span></li>"
        );
      })
      .join("");
    list.querySelectorAll("li").forEach((li) => {
      li.addEventListener("click", () => select(Number(li.dataset.collectorId)));
    });
    const positioned = [...state.features.keys()].filter((id) => state.markers.has(id)).length;
    document.getElementById("live-count").textContent = positioned + " / " + state.features.size;
  }

  async function loadLive(fit) {
    let data;
    try {
      data = await App.api("/tracking/live");
    } catch (error) {
      if (error.status === 403) {
        // A collector: no team view, only their own track below.
        document.getElementById("own-only").hidden = false;
        document.querySelectorAll(".staff-only").forEach((el) => {
          el.hidden = true;
        });
        return false;
      }
      App.notify(App.explain(error), "error");
      return false;
    }
    const withPosition = data.features.filter((f) => f.geometry);
    ensureMarkerLayer(withPosition.length);
    for (const feature of data.features) {
      state.features.set(feature.properties.collector_id, feature.properties);
    }
    for (const feature of withPosition) {
      const [lon, lat] = feature.geometry.coordinates;
      placeMarker(feature.properties.collector_id, lat, lon);
    }
    renderList();
    if (state.selected) renderDetails();
    if (fit && withPosition.length && !zoneLayer.getLayers().length) {
      map.fitBounds(markerLayer.getBounds(), { padding: [30, 30], maxZoom: 14 });
    }
    return true;
  }

  function setStream(on) {
    const el = document.getElementById("stream-state");
    el.className = "stream " + (on ? "on" : "off");
    el.textContent = t(on ? "map.stream_on" : "map.stream_off");
  }

  function connectStream() {
    // EventSource cannot send headers: the stream alone accepts the token as a query parameter.
    const source = new EventSource(
      "/api/v1/tracking/stream?access_token=" + encodeURIComponent(App.token()),
    );
    source.addEventListener("open", () => setStream(true));
    source.addEventListener("error", () => setStream(false));
    source.addEventListener("position", (event) => {
      const fix = JSON.parse(event.data);
      const props = state.features.get(fix.collector_id);
      if (props) {
        props.fix_time = fix.fix_time;
        props.battery = fix.battery;
        props.speed_mps = fix.speed_mps;
      } else {
        state.features.set(fix.collector_id, {
          collector_id: fix.collector_id,
          username: fix.username,
          code: fix.username,
          status: "moving",
          alerts: [],
          visits_done: 0,
          visits_planned: 0,
        });
      }
      // Positions carry no status; a fix from someone shown as silent or off shift asks for one.
      if (!props || ["off_shift", "no_signal"].includes(props.status)) refreshSoon();
      ensureMarkerLayer(state.features.size);
      const isNew = !state.markers.has(fix.collector_id);
      placeMarker(fix.collector_id, fix.lat, fix.lon);
      if (isNew) renderList();
      if (state.selected === fix.collector_id) renderDetails();
    });
    source.addEventListener("alert", loadAlerts);
    source.addEventListener("alert_resolved", loadAlerts);
    return source;
  }

  let refreshTimer = null;
  function refreshSoon() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      loadLive(false);
    }, STALE_REFRESH_MS);
  }

  async function loadZones() {
    try {
      const zones = await App.api("/zones");
      L.geoJSON(zones, {
        style: (f) => ({ color: f.properties.color, weight: 2, fillOpacity: 0.07 }),
        onEachFeature: (f, layer) => layer.bindTooltip(App.escapeHtml(f.properties.name)),
      }).addTo(zoneLayer);
      if (zoneLayer.getLayers().length) map.fitBounds(zoneLayer.getBounds(), { padding: [10, 10] });
    } catch (_error) {
      // Collectors cannot read zones; the map still works without them.
    }
  }

  function alertLabel(kind) {
    const text = t("alert." + kind);
    return text === "alert." + kind ? kind : text;
  }

  async function loadAlerts() {
    const list = document.getElementById("alerts");
    try {
      const alerts = await App.apiAll("/tracking/alerts");
      list.innerHTML = alerts
        .map(
          (a) =>
            '<li data-collector-id="' + a.collector_id + '"><span>' + App.escapeHtml(a.username) +
            '</span><span class="muted">' + App.escapeHtml(alertLabel(a.kind)) + "</span></li>",
        )
        .join("");
      list.querySelectorAll("li").forEach((li) => {
        li.addEventListener("click", () => select(Number(li.dataset.collectorId)));
      });
    } catch (_error) {
      list.innerHTML = "";
    }
  }

  function renderDetails() {
    const id = state.selected;
    const p = state.features.get(id);
    const box = document.getElementById("details");
    if (!p) {
      box.innerHTML = '<p class="muted">#' + id + "</p>";
      return;
    }
    const status = displayStatus(p, state.markers.has(id));
    const drift = p.drift_min === null || p.drift_min === undefined
      ? t("common.none")
      : t("map.drift_min", { n: (p.drift_min > 0 ? "+" : "") + p.drift_min });
    box.innerHTML =
      "<p><strong>" + App.escapeHtml(p.full_name || p.username) + "</strong> (" +
      App.escapeHtml(p.username) + ')</p><dl class="facts">' +
      "<dt>" + t("common.date") + "</dt><dd>" + state.day + "</dd>" +
      "<dt>" + t("map.status") + '</dt><dd><i class="dot status-' + status + '"></i>' + t("status." + status) + "</dd>" +
      "<dt>" + t("map.visits") + '</dt><dd id="visits-progress">' + p.visits_done + " / " +
      p.visits_planned + "</dd>" +
      "<dt>" + t("map.drift") + '</dt><dd id="eta-drift">' + drift + "</dd>" +
      "<dt>" + t("map.last_fix") + "</dt><dd>" + fmt.dateTime(p.fix_time) + "</dd>" +
      "<dt>" + t("map.last_sync") + '</dt><dd id="last-sync">' + fmt.dateTime(p.last_sync_at) +
      "</dd></dl>";
  }

  /** What a collector sees of their own day: the track's size (the team view is staff-only). */
  function renderTrackSummary(geojson) {
    const line = (geojson.features || []).find((f) => f.properties.kind === "track");
    const props = line ? line.properties : {};
    document.getElementById("details").innerHTML =
      "<p><strong>" + App.escapeHtml(props.username || "#" + state.selected) + '</strong></p><dl class="facts">' +
      "<dt>" + t("common.date") + "</dt><dd>" + state.day + "</dd>" +
      "<dt>" + t("map.distance") + "</dt><dd>" + fmt.number((props.distance_m || 0) / 1000, 2) + " km</dd>" +
      "<dt>" + t("map.fixes") + "</dt><dd>" + fmt.number(props.fix_count || 0) + "</dd></dl>";
  }

  function showRouteMessage(text) {
    const el = document.getElementById("route-message");
    el.textContent = text || "";
    el.hidden = !text;
  }

  async function publishedRoute(collectorId) {
    const plans = await App.api("/plans?date=" + state.day);
    const chosen = plans.find((p) => p.status === "published");
    if (!chosen) return null;
    const plan = await App.api("/plans/" + chosen.id);
    return plan.routes.find((r) => r.collector_id === collectorId) || null;
  }

  async function visitDispositions(collectorId) {
    const visits = await App.apiAll(
      "/visits?from=" + state.day + "&to=" + App.addDays(state.day, 1) + "&collector_id=" + collectorId,
    );
    const byAccount = new Map();
    for (const visit of visits) byAccount.set(visit.account_id, visit.disposition);
    return byAccount;
  }

  function drawRoute(route, done) {
    const color = Routes.collectorColor(route.collector_id);
    Routes.routeLine(route, color, true).addTo(routeLayer);
    const rows = [];
    for (const stop of route.stops) {
      const disposition = state.dispositions.get(done.get(stop.account_id));
      const marker = L.marker([stop.lat, stop.lon], {
        icon: Routes.stopIcon(stop.sequence, Routes.dispositionColor(disposition), stop.locked),
      });
      const outcome = disposition ? App.label(disposition) : t("map.stop_pending");
      marker.bindPopup(
        "#" + stop.sequence + " · " + t("dispatch.account") + " " + stop.account_id + "<br>ETA " +
          fmt.time(stop.eta) + " (" + fmt.time(stop.window_start) + "–" + fmt.time(stop.window_end) +
          ")<br>" + App.escapeHtml(outcome),
      );
      marker.addTo(routeLayer);
      rows.push(
        '<li class="route-stop" data-account-id="' + stop.account_id + '"><span>' + stop.sequence +
          ". " + fmt.time(stop.eta) + '</span><span><i class="dot" style="background:' +
          Routes.dispositionColor(disposition) + '"></i>' + App.escapeHtml(outcome) + "</span></li>",
      );
    }
    document.getElementById("route-stops").innerHTML =
      "<h2>" + t("map.planned_route") + '</h2><ul class="collector-list stops">' + rows.join("") +
      "</ul>";
  }

  function drawTrack(geojson) {
    const line = (geojson.features || []).find((f) => f.geometry && f.geometry.type === "LineString");
    if (!line || line.geometry.coordinates.length < 2) return null;
    return L.polyline(
      line.geometry.coordinates.map(([lon, lat]) => [lat, lon]),
      { color: "#102a43", weight: 3, opacity: 0.9 },
    ).addTo(trackLayer);
  }

  async function select(id) {
    state.selected = id;
    routeLayer.clearLayers();
    trackLayer.clearLayers();
    document.getElementById("route-stops").innerHTML = "";
    showRouteMessage("");
    for (const [markerId, marker] of state.markers) {
      const props = state.features.get(markerId);
      if (props) marker.setIcon(markerIcon(markerId, props, displayStatus(props, true)));
    }
    renderList();
    renderDetails();
    const problems = [];
    // The planned route (dispatchers and managers) and the actual track (also the collector's own).
    const [route, done, track] = await Promise.allSettled([
      publishedRoute(id),
      visitDispositions(id),
      App.api("/collectors/" + id + "/track?date=" + state.day),
    ]);
    if (state.selected !== id) return;
    if (route.status === "fulfilled") {
      if (route.value) {
        drawRoute(route.value, done.status === "fulfilled" ? done.value : new Map());
      } else {
        problems.push(t("map.no_plan"));
      }
    }
    let trackLine = null;
    if (track.status === "fulfilled") {
      trackLine = drawTrack(track.value);
      if (!state.features.has(id)) renderTrackSummary(track.value);
    }
    const denied = [route, track].filter(
      (r) => r.status === "rejected" && [403, 404].includes(r.reason.status),
    );
    if (me.role === "collector" && denied.length === 2) {
      problems.push(t("map.route_denied"));
    } else if (track.status === "rejected") {
      problems.push(App.explain(track.reason));
    }
    showRouteMessage(problems.join(" "));
    const bounds = L.featureGroup([...routeLayer.getLayers(), ...(trackLine ? [trackLine] : [])]);
    if (bounds.getLayers().length) {
      map.fitBounds(bounds.getBounds(), { padding: [30, 30], maxZoom: 16 });
    }
  }

  async function loadReplay() {
    if (!state.selected) {
      App.notify(t("map.pick"));
      return;
    }
    const day = document.getElementById("replay-date").value;
    const slider = document.getElementById("replay-slider");
    replayLayer.clearLayers();
    try {
      const geojson = await App.api("/collectors/" + state.selected + "/track?date=" + day);
      const line = (geojson.features || []).find((f) => f.properties.kind === "track");
      if (!line || !line.geometry.coordinates.length) {
        document.getElementById("replay-time").textContent = t("map.replay_empty");
        slider.disabled = true;
        return;
      }
      const points = line.geometry.coordinates.map(([lon, lat]) => [lat, lon]);
      const times = line.properties.times || [];
      state.replay = {
        points,
        times,
        path: L.polyline([], { color: "#d64545", weight: 3 }).addTo(replayLayer),
        ghost: L.polyline(points, { color: "#d64545", weight: 1, opacity: 0.4 }).addTo(replayLayer),
        head: L.circleMarker(points[0], { radius: 7, color: "#fff", fillColor: "#d64545", fillOpacity: 1 })
          .addTo(replayLayer),
      };
      slider.max = String(points.length - 1);
      slider.value = "0";
      slider.disabled = false;
      showReplayAt(0);
      map.fitBounds(state.replay.ghost.getBounds(), { padding: [30, 30] });
    } catch (error) {
      document.getElementById("replay-time").textContent = App.explain(error);
      slider.disabled = true;
    }
  }

  function showReplayAt(index) {
    const replay = state.replay;
    if (!replay) return;
    replay.path.setLatLngs(replay.points.slice(0, index + 1));
    replay.head.setLatLng(replay.points[index]);
    document.getElementById("replay-time").textContent =
      fmt.dateTime(replay.times[index]) + " (" + (index + 1) + "/" + replay.points.length + ")";
  }

  async function ownCollectorId() {
    // A collector's scorecard is theirs alone: it names their collector id.
    try {
      const cards = await App.api(
        "/kpi/scorecards?from=" + state.day + "&to=" + App.addDays(state.day, 1),
      );
      return cards.scorecards.length ? cards.scorecards[0].collector_id : null;
    } catch (_error) {
      return null;
    }
  }

  async function start() {
    renderLegend();
    document.getElementById("replay-date").value = App.addDays(state.day, -1);
    document.getElementById("replay-load").addEventListener("click", loadReplay);
    document.getElementById("replay-slider").addEventListener("input", (event) => {
      showReplayAt(Number(event.target.value));
    });
    const kpiModel = await App.kpiModel();
    for (const d of kpiModel.dispositions || []) state.dispositions.set(d.name, d);
    await loadZones();
    const staff = await loadLive(true);
    if (staff) {
      connectStream();
      loadAlerts();
      setInterval(() => loadLive(false), REFRESH_MS);
    }
    const wanted = params.get("collector") ? Number(params.get("collector")) : null;
    if (wanted) {
      await select(wanted);
    } else if (me.role === "collector") {
      const own = await ownCollectorId();
      if (own) await select(own);
    }
    document.body.dataset.ready = "1";
  }

  // Tests and integrators read the page state from here.
  window.liveMap = {
    map,
    markerCount: () => state.markers.size,
    position: (id) => {
      const marker = state.markers.get(id);
      return marker ? marker.getLatLng() : null;
    },
    routeStopCount: () => routeLayer.getLayers().filter((l) => l instanceof L.Marker).length,
    select,
  };

  start();
})();
