/* Sign in through the API and keep the bearer token for this browser tab only. */
(function () {
  "use strict";
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");

  function safeNext() {
    const next = new URLSearchParams(location.search).get("next") || "/";
    // Only same-site paths: never an open redirect.
    return next.startsWith("/") && !next.startsWith("//") ? next : "/";
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const response = await fetch("/api/v1/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        username: document.getElementById("username").value.trim(),
        password: document.getElementById("password").value,
      }),
    });
    if (!response.ok) {
      error.textContent = App.t(response.status === 429 ? "login.limited" : "login.failed");
      error.hidden = false;
      return;
    }
    const data = await response.json();
    sessionStorage.setItem(App.TOKEN_KEY, data.access_token);
    location.replace(safeNext());
  });
})();
