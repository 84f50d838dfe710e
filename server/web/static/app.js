/* Shared by every page: the token, API calls, translations, formatting, the base map. */
(function () {
  "use strict";

  const TOKEN_KEY = "cobranza.token";
  const LANG_KEY = "cobranza.lang";
  const body = document.body;
  const agencyTz = body.dataset.tz || "America/Lima";

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || "HTTP " + status);
      this.status = status;
      this.problem = problem || {};
    }
  }

  function lang() {
    const chosen = localStorage.getItem(LANG_KEY);
    return chosen === "en" ? "en" : "es";
  }

  function t(key, vars) {
    const catalogue = window.I18N[lang()] || window.I18N.es;
    let text = catalogue[key] ?? window.I18N.es[key] ?? key;
    for (const [name, value] of Object.entries(vars || {})) {
      text = text.replace("{" + name + "}", String(value));
    }
    return text;
  }

  function applyI18n(root) {
    (root || document).querySelectorAll("[data-i18n]").forEach((el) => {
      el.textContent = t(el.dataset.i18n);
    });
    (root || document).querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
      el.placeholder = t(el.dataset.i18nPlaceholder);
    });
    document.documentElement.lang = lang();
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function claims() {
    const value = token();
    if (!value || value.split(".").length !== 3) return null;
    try {
      const part = value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const payload = JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
      if (payload.exp && payload.exp * 1000 < Date.now()) return null;
      return payload;
    } catch (_error) {
      return null;
    }
  }

  function toLogin() {
    const next = location.pathname + location.search;
    location.replace("/login?next=" + encodeURIComponent(next));
  }

  function logout() {
    sessionStorage.removeItem(TOKEN_KEY);
    location.replace("/login");
  }

  /** The token's claims (role), or null after starting the redirect to /login. */
  function requireLogin() {
    const payload = claims();
    if (!payload) toLogin();
    return payload;
  }

  async function api(path, options) {
    const opts = options || {};
    const headers = { Authorization: "Bearer " + token() };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    if (opts.accept) headers.Accept = opts.accept;
    const response = await fetch("/api/v1" + path, {
      method: opts.method || "GET",
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    if (response.status === 401) {
      toLogin();
      throw new ApiError(401, { title: "Unauthorized" });
    }
    if (!response.ok) {
      let problem = null;
      try {
        problem = await response.json();
      } catch (_error) {
        problem = null;
      }
      throw new ApiError(response.status, problem);
    }
    if (response.status === 204) return null;
    if (opts.raw) return response;
    const type = response.headers.get("Content-Type") || "";
    return type.includes("json") ? response.json() : response.text();
  }

  /** Every page of a paginated collection (flask-smorest X-Pagination). */
  async function apiAll(path) {
    const items = [];
    const joiner = path.includes("?") ? "&" : "?";
    for (let page = 1; page < 1000; page += 1) {
      const response = await api(path + joiner + "page_size=100&page=" + page, { raw: true });
      const chunk = await response.json();
      items.push(...chunk);
      const meta = JSON.parse(response.headers.get("X-Pagination") || "{}");
      if (!meta.last_page || page >= meta.last_page) break;
    }
    return items;
  }

  /** A user-facing sentence for a failed call: 403/404 are expected for collectors. */
  function explain(error) {
    if (error instanceof ApiError) {
      if (error.status === 403) return t("common.forbidden");
      if (error.status === 404) return t("common.not_found");
      return t("common.error") + " " + error.status + ": " + error.message;
    }
    return t("common.error") + ": " + error.message;
  }

  let noticeTimer = null;
  function notify(message, kind) {
    const box = document.getElementById("notice");
    if (!box) return;
    box.textContent = message;
    box.className = "notice " + (kind || "info");
    box.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => {
      box.hidden = true;
    }, 6000);
  }

  const locale = () => (lang() === "en" ? "en-US" : "es-PE");
  const fmt = {
    number(value, digits) {
      if (value === null || value === undefined || value === "") return t("common.none");
      return Number(value).toLocaleString(locale(), {
        minimumFractionDigits: digits || 0,
        maximumFractionDigits: digits || 0,
      });
    },
    money(value) {
      if (value === null || value === undefined) return t("common.none");
      return Number(value).toLocaleString(locale(), {
        minimumFractionDigits: 2,
        maximumFractionDigits: 2,
      });
    },
    percent(value) {
      if (value === null || value === undefined) return t("common.none");
      return (Number(value) * 100).toLocaleString(locale(), { maximumFractionDigits: 1 }) + " %";
    },
    time(iso) {
      if (!iso) return t("common.none");
      return new Date(iso).toLocaleTimeString(locale(), {
        timeZone: agencyTz,
        hour: "2-digit",
        minute: "2-digit",
      });
    },
    dateTime(iso) {
      if (!iso) return t("common.none");
      return new Date(iso).toLocaleString(locale(), {
        timeZone: agencyTz,
        day: "2-digit",
        month: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
      });
    },
  };

  /** YYYY-MM-DD of today (plus offset days) in the agency's time zone. */
  function agencyDate(offsetDays) {
    const parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: agencyTz,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    }).format(new Date());
    return addDays(parts, offsetDays || 0);
  }

  function addDays(isoDate, days) {
    const day = new Date(isoDate + "T12:00:00Z");
    day.setUTCDate(day.getUTCDate() + days);
    return day.toISOString().slice(0, 10);
  }

  /** A Leaflet map on a plain background, with tiles when the configured server answers. */
  function baseMap(elementId) {
    const map = L.map(elementId, { preferCanvas: false }).setView([-12.06, -77.03], 11);
    const url = body.dataset.tileUrl;
    if (url) {
      const tiles = L.tileLayer(url, { maxZoom: 19, attribution: body.dataset.tileAttribution });
      let warned = false;
      tiles.on("tileerror", () => {
        if (warned) return;
        warned = true;
        const badge = document.getElementById("tiles-offline");
        if (badge) badge.hidden = false;
      });
      tiles.addTo(map);
    }
    return map;
  }

  let model = null;
  /** The KPI model (disposition labels and levels); null for roles that cannot read it. */
  async function kpiModel() {
    if (model) return model;
    try {
      model = await api("/kpi/model");
    } catch (_error) {
      model = { dispositions: [], measures: [], funnel: [] };
    }
    return model;
  }

  function label(entry) {
    if (!entry) return "";
    return (lang() === "en" ? entry.label_en : entry.label_es) || entry.label_es || entry.name;
  }

  function escapeHtml(text) {
    return String(text ?? "").replace(/[&<>"']/g, (c) => {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  const NAV_BY_ROLE = {
    admin: ["map", "dispatch", "dashboard"],
    dispatcher: ["map", "dispatch", "dashboard"],
    manager: ["map", "dashboard"],
    collector: ["map", "dashboard"],
  };

  function setUpChrome() {
    applyI18n();
    const picker = document.getElementById("lang");
    if (picker) {
      picker.value = lang();
      picker.addEventListener("change", () => {
        localStorage.setItem(LANG_KEY, picker.value);
        location.reload();
      });
    }
    const payload = claims();
    const nav = document.getElementById("nav");
    if (nav && payload) {
      const allowed = NAV_BY_ROLE[payload.role] || [];
      nav.querySelectorAll("a[data-page]").forEach((link) => {
        link.hidden = !allowed.includes(link.dataset.page);
        if (link.dataset.page === body.dataset.page) link.classList.add("active");
      });
      const who = document.getElementById("who");
      if (who) who.textContent = payload.role;
    }
    const out = document.getElementById("logout");
    if (out) out.addEventListener("click", logout);
  }

  document.addEventListener("DOMContentLoaded", setUpChrome);

  window.App = {
    ApiError,
    TOKEN_KEY,
    agencyDate,
    addDays,
    api,
    apiAll,
    applyI18n,
    baseMap,
    claims,
    escapeHtml,
    explain,
    fmt,
    kpiModel,
    label,
    lang,
    logout,
    notify,
    requireLogin,
    t,
    token,
  };
})();
