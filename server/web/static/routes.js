/* Drawing routes and stops on a Leaflet map: shared by the live map and the dispatch board. */
(function () {
  "use strict";

  const PALETTE = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
    "#bcbd22", "#393b79", "#637939", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
    "#756bb1", "#636363", "#ad494a", "#8ca252", "#bd9e39", "#a55194", "#6baed6", "#fd8d3c",
  ];

  /** Stop colors by the funnel level the visit's disposition reached. */
  const LEVEL_COLORS = {
    attempt: "#e08a00",
    connection: "#c9a227",
    contact: "#8e6bbf",
    direct_contact: "#1f6feb",
    promise: "#2e9e44",
    payment: "#0b6e4f",
  };
  const PENDING = "#7b8794";

  function collectorColor(collectorId) {
    const index = Number(collectorId) - 1;
    if (index >= 0 && index < PALETTE.length) return PALETTE[index];
    // Beyond the palette, hues spread by the golden angle stay apart from their neighbours.
    return "hsl(" + Math.round((index * 137.508) % 360) + ", 65%, 40%)";
  }

  function dispositionColor(disposition) {
    if (!disposition) return PENDING;
    if (disposition.records_payment) return LEVEL_COLORS.payment;
    return LEVEL_COLORS[disposition.level] || PENDING;
  }

  function stopIcon(sequence, color, locked) {
    return L.divIcon({
      className: "",
      html:
        '<div class="stopnum' + (locked ? " locked" : "") + '" style="background:' + color +
        ';width:22px;height:22px">' + sequence + "</div>",
      iconSize: [22, 22],
      iconAnchor: [11, 11],
    });
  }

  /** Planned route: a polyline from start through the stops to the end. */
  function routeLine(route, color, dashed) {
    const points = [route.start, ...route.stops.map((s) => [s.lat, s.lon]), route.end].filter(
      (p) => p && p[0] !== null && p[0] !== undefined,
    );
    return L.polyline(points, {
      color,
      weight: 4,
      opacity: 0.85,
      dashArray: dashed ? "8 6" : null,
    });
  }

  window.Routes = { PALETTE, LEVEL_COLORS, PENDING, collectorColor, dispositionColor, routeLine, stopIcon };
})();
