/* KPI dashboard: funnel, report table, scorecards, daily series, roll-rate matrix, CSV. */
(function () {
  "use strict";

  if (!App.requireLogin()) return;
  const t = App.t;
  const fmt = App.fmt;
  const $ = (id) => document.getElementById(id);
  // The funnel levels of the KPI model and the report measure counting each of them.
  const LEVEL_MEASURE = {
    attempt: "attempts",
    connection: "connections",
    contact: "contacts",
    direct_contact: "direct_contacts",
    promise: "promises",
  };
  const REPORT_MEASURES = [
    "attempts", "contacts", "direct_contacts", "promises", "contact_rate", "promise_rate",
    "kept_rate", "amount_promised", "amount_recovered", "penetration",
  ];
  const SCORECARD_COLUMNS = [
    ["rank", "overall"], ["productivity", "attempts"], ["productivity", "attempts_per_hour"],
    ["productivity", "plan_completion"], ["effectiveness", "direct_contact_rate"],
    ["effectiveness", "promise_rate"], ["effectiveness", "kept_rate"],
    ["effectiveness", "amount_recovered"], ["quality", "geo_verified_rate"],
    ["quality", "evidence_rate"],
  ];
  const MOVEMENTS = ["normalized", "improved", "contained", "rolled"];
  // The model calls every quotient a rate; these are per-unit ratios, not shares of 100 %.
  const RATIOS = new Set(["attempts_per_hour", "intensity", "km_per_attempt"]);

  const state = { model: null, measures: new Map(), report: null, scorecards: [], sort: null, charts: [] };

  function measureLabel(name) {
    const entry = state.measures.get(name);
    return entry ? App.label(entry) : name;
  }

  function formatMeasure(name, value) {
    const entry = state.measures.get(name);
    if (value === null || value === undefined) return t("common.none");
    if (RATIOS.has(name)) return fmt.number(value, 2);
    if (entry && entry.kind === "rate") return fmt.percent(value);
    if (entry && entry.kind === "amount") return fmt.money(value);
    if (typeof value === "number" && !Number.isInteger(value)) return fmt.number(value, 2);
    return fmt.number(value);
  }

  function query() {
    return { from: $("from").value, to: $("to").value, group: $("group").value };
  }

  function groupKey(row, groupBy) {
    return groupBy.map((key) => row[key] ?? t("common.none")).join(" · ");
  }

  function renderFunnel(row, title) {
    $("funnel-group").textContent = title;
    const levels = (state.model.funnel || []).slice().sort((a, b) => a.order - b.order);
    const top = row[LEVEL_MEASURE[levels[0].level]] || 0;
    $("funnel").innerHTML = levels
      .map((level) => {
        const measure = LEVEL_MEASURE[level.level];
        const value = row[measure] || 0;
        const width = top ? Math.max(1, (100 * value) / top) : 0;
        return (
          '<div class="funnel-row" data-level="' + level.level + '"><span>' + measureLabel(measure) +
          '</span><div><div class="funnel-bar" style="width:' + width + '%"></div></div>' +
          '<span class="num funnel-value" data-measure="' + measure + '">' + fmt.number(value) + "</span>" +
          '<span class="num muted">' + (top ? fmt.percent(value / top) : t("common.none")) + "</span></div>"
        );
      })
      .join("");
  }

  function renderReport(report) {
    const groupBy = report.group_by || [];
    const head = (groupBy.length ? "<th>" + t("dashboard.group_value") + "</th>" : "") +
      REPORT_MEASURES.map((m) => '<th class="num">' + App.escapeHtml(measureLabel(m)) + "</th>").join("");
    $("report").querySelector("thead").innerHTML = "<tr>" + head + "</tr>";
    const cells = (row) => REPORT_MEASURES.map((m) => '<td class="num">' + formatMeasure(m, row[m]) + "</td>").join("");
    $("report").querySelector("tbody").innerHTML = groupBy.length
      ? report.rows.map((row, i) => '<tr data-row="' + i + '"><td>' + App.escapeHtml(groupKey(row, groupBy)) + "</td>" + cells(row) + "</tr>").join("")
      : "";
    $("report").querySelector("tfoot").innerHTML =
      '<tr class="total">' + (groupBy.length ? "<td>" + t("dispatch.total") + "</td>" : "") + cells(report.total) + "</tr>";
    $("report").querySelectorAll("tbody tr").forEach((tr) => {
      tr.addEventListener("click", () => {
        $("report").querySelectorAll("tr.selected").forEach((s) => s.classList.remove("selected"));
        tr.classList.add("selected");
        const row = report.rows[Number(tr.dataset.row)];
        renderFunnel(row, groupKey(row, groupBy));
      });
    });
    renderFunnel(report.total, t("dispatch.total"));
  }

  function scorecardValue(card, column) {
    return (card[column[0]] || {})[column[1]];
  }

  function renderScorecards() {
    const cards = state.scorecards.slice();
    if (state.sort) {
      const { index, dir } = state.sort;
      cards.sort((a, b) => {
        const va = index < 0 ? a.collector : scorecardValue(a, SCORECARD_COLUMNS[index]);
        const vb = index < 0 ? b.collector : scorecardValue(b, SCORECARD_COLUMNS[index]);
        const na = va === null || va === undefined ? -Infinity : isNaN(Number(va)) ? va : Number(va);
        const nb = vb === null || vb === undefined ? -Infinity : isNaN(Number(vb)) ? vb : Number(vb);
        return (na > nb ? 1 : na < nb ? -1 : 0) * dir;
      });
    }
    const sortedClass = (index) =>
      state.sort && state.sort.index === index ? (state.sort.dir > 0 ? " sorted-asc" : " sorted-desc") : "";
    const head =
      '<th class="sortable' + sortedClass(-1) + '" data-index="-1">' + t("common.collector") + "</th>" +
      SCORECARD_COLUMNS.map((col, i) => {
        const title = col[0] === "rank" ? t("dashboard.rank") : measureLabel(col[1]);
        return '<th class="num sortable' + sortedClass(i) + '" data-index="' + i + '">' + App.escapeHtml(title) + "</th>";
      }).join("");
    $("scorecards").querySelector("thead").innerHTML = "<tr>" + head + "</tr>";
    $("scorecards").querySelector("tbody").innerHTML = cards
      .map(
        (card) =>
          '<tr data-collector-id="' + card.collector_id + '"><td>' + App.escapeHtml(card.collector) + "</td>" +
          SCORECARD_COLUMNS.map(
            (col) => '<td class="num">' + (col[0] === "rank" ? fmt.number(scorecardValue(card, col)) : formatMeasure(col[1], scorecardValue(card, col))) + "</td>",
          ).join("") + "</tr>",
      )
      .join("");
    $("scorecards").querySelectorAll("th.sortable").forEach((th) => {
      th.addEventListener("click", () => {
        const index = Number(th.dataset.index);
        const dir = state.sort && state.sort.index === index ? -state.sort.dir : index < 0 ? 1 : -1;
        state.sort = { index, dir };
        renderScorecards();
      });
    });
  }

  function renderSeries(daily) {
    for (const chart of state.charts) chart.destroy();
    state.charts = [];
    if (!window.Chart) {
      $("chart-missing").hidden = false;
      return;
    }
    const labels = daily.rows.map((r) => r.day);
    const series = (name) => daily.rows.map((r) => (r[name] === null ? null : Number(r[name])));
    state.charts.push(
      new Chart($("series-counts"), {
        type: "line",
        data: {
          labels,
          datasets: [
            { label: measureLabel("attempts"), data: series("attempts"), borderColor: "#0b6e99", backgroundColor: "#0b6e99" },
            { label: measureLabel("promises"), data: series("promises"), borderColor: "#2e9e44", backgroundColor: "#2e9e44" },
          ],
        },
        options: { maintainAspectRatio: false, animation: false, spanGaps: true },
      }),
      new Chart($("series-rates"), {
        data: {
          labels,
          datasets: [
            { type: "bar", label: measureLabel("amount_recovered"), data: series("amount_recovered"), backgroundColor: "#9fb3c8", yAxisID: "amount" },
            {
              type: "line", label: measureLabel("contact_rate"),
              data: series("contact_rate").map((v) => (v === null ? null : v * 100)),
              borderColor: "#8e6bbf", backgroundColor: "#8e6bbf", yAxisID: "rate",
            },
          ],
        },
        options: {
          maintainAspectRatio: false, animation: false, spanGaps: true,
          scales: {
            amount: { position: "left", beginAtZero: true },
            rate: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, ticks: { callback: (v) => v + " %" } },
          },
        },
      }),
    );
  }

  function renderRollRate(doc) {
    $("rollrate").querySelector("thead").innerHTML =
      "<tr><th>" + t("dashboard.bucket") + '</th><th class="num">' + t("dashboard.accounts") + "</th>" +
      MOVEMENTS.map((m) => '<th class="num">' + App.escapeHtml(movementLabel(m)) + "</th>").join("") +
      '<th class="num">' + t("dashboard.not_in_end") + "</th></tr>";
    $("rollrate").querySelector("tbody").innerHTML = doc.buckets
      .map(
        (b) =>
          "<tr><td>" + App.escapeHtml(b.bucket) + '</td><td class="num">' + fmt.number(b.accounts) + "</td>" +
          MOVEMENTS.map((m) => {
            const share = b[m].share;
            const shade = share === null ? 0 : Math.round(share * 60);
            const color = m === "rolled" ? "214,69,69" : "46,158,68";
            return '<td class="num heat" style="background:rgba(' + color + "," + shade / 100 + ')">' +
              fmt.percent(share) + ' <span class="muted">(' + fmt.number(b[m].accounts) + ")</span></td>";
          }).join("") +
          '<td class="num">' + fmt.number(b.not_in_end_snapshot) + "</td></tr>",
      )
      .join("");
  }

  function movementLabel(name) {
    const movement = ((state.model.effectiveness || {}).movements || []).find((m) => m.name === name);
    if (App.lang() === "es" && movement && movement.label_es) return movement.label_es;
    return t("movement." + name);
  }

  async function refresh(event) {
    if (event) event.preventDefault();
    const q = query();
    const period = "from=" + q.from + "&to=" + q.to;
    const [report, daily, cards] = await Promise.allSettled([
      App.api("/kpi/report?" + period + (q.group ? "&group_by=" + q.group : "")),
      App.api("/kpi/report?" + period + "&group_by=day"),
      App.api("/kpi/scorecards?" + period),
    ]);
    if (report.status === "fulfilled") {
      state.report = report.value;
      renderReport(report.value);
    } else {
      App.notify(App.explain(report.reason), "error");
    }
    if (daily.status === "fulfilled") renderSeries(daily.value);
    if (cards.status === "fulfilled") {
      state.scorecards = cards.value.scorecards;
      renderScorecards();
    }
    const message = $("rollrate-message");
    try {
      renderRollRate(await App.api("/kpi/effectiveness?start=" + $("snap-start").value + "&end=" + $("snap-end").value));
      message.hidden = true;
    } catch (error) {
      $("rollrate").querySelector("tbody").innerHTML = "";
      message.textContent = App.explain(error);
      message.hidden = false;
    }
    document.body.dataset.ready = "1";
  }

  function download(name, blob) {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  async function reportCsv() {
    // The same table the page shows, as the API's CSV (model column names).
    const q = query();
    const response = await App.api(
      "/kpi/report?from=" + q.from + "&to=" + q.to + (q.group ? "&group_by=" + q.group : "") + "&format=csv",
      { raw: true },
    );
    download("kpi-report-" + q.from + "-" + q.to + ".csv", await response.blob());
  }

  function scorecardsCsv() {
    const header = ["collector_id", "collector", ...SCORECARD_COLUMNS.map((c) => c[0] + "." + c[1])];
    const quote = (v) => (v === null || v === undefined ? "" : /[",\n]/.test(String(v)) ? '"' + String(v).replace(/"/g, '""') + '"' : String(v));
    const lines = [header.join(",")].concat(
      state.scorecards.map((card) =>
        [card.collector_id, card.collector, ...SCORECARD_COLUMNS.map((c) => scorecardValue(card, c))].map(quote).join(","),
      ),
    );
    const q = query();
    download("scorecards-" + q.from + "-" + q.to + ".csv", new Blob([lines.join("\n") + "\n"], { type: "text/csv" }));
  }

  async function start() {
    const params = new URLSearchParams(location.search);
    const today = App.agencyDate(0);
    $("from").value = params.get("from") || App.addDays(today, -14);
    $("to").value = params.get("to") || App.addDays(today, 1);
    $("group").value = params.get("group") || "";
    $("snap-start").value = params.get("snap_start") || App.addDays(today, -14);
    $("snap-end").value = params.get("snap_end") || today;
    state.model = await App.kpiModel();
    for (const m of state.model.measures || []) state.measures.set(m.name, m);
    $("filters").addEventListener("submit", refresh);
    $("report-csv").addEventListener("click", () => reportCsv().catch((e) => App.notify(App.explain(e), "error")));
    $("scorecards-csv").addEventListener("click", scorecardsCsv);
    await refresh();
  }

  window.kpiDashboard = { report: () => state.report };
  start();
})();
