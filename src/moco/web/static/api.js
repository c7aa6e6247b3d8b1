// The HTTP API (docs/web-api.md): JSON fetches with the CSRF header, the 401 login box.

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

/** The value of a cookie, or "". */
export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

const CHANGES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** fetch() with the CSRF header on state changes; throws ApiError on an error status. */
export async function request(method, path, body, { raw = false } = {}) {
  const headers = {};
  const init = { method, headers, credentials: "same-origin" };
  if (CHANGES.has(method)) headers["X-Moco-CSRF"] = cookie("moco_csrf");
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, "the server cannot be reached");
  }
  if (response.status === 401) showLogin();
  if (!response.ok) {
    let detail = "";
    try { detail = (await response.json()).detail; } catch { /* not JSON */ }
    if (typeof detail !== "string") detail = JSON.stringify(detail);
    throw new ApiError(response.status, detail || response.statusText);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body) => request("POST", path, body ?? {}),
  put: (path, body) => request("PUT", path, body),
  patch: (path, body) => request("PATCH", path, body),
  del: (path) => request("DELETE", path),
};

/** The path of a session's sub-resource: sessionPath("abc", "model") → /api/sessions/abc/model */
export function sessionPath(id, ...rest) {
  const parts = ["/api/sessions", encodeURIComponent(id), ...rest.map(encodeURIComponent)];
  return parts.join("/");
}

/** With a query string of the defined values. */
export function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, value);
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** Show the login box (the token is asked for, then the page goes to /?token=…). */
export function showLogin() {
  const box = document.getElementById("login");
  if (!box || !box.hidden) return;
  box.hidden = false;
  document.body.classList.add("logged-out");
  const input = box.querySelector("input");
  if (input) input.focus();
}

export function setupLogin() {
  const box = document.getElementById("login");
  const form = box.querySelector("form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = form.elements.token.value.trim();
    if (!token) return;
    // check it first: a wrong token on /?token= gets a bare 401 page
    const check = await fetch("/api/info", { headers: { Authorization: `Bearer ${token}` } })
      .catch(() => null);
    if (check && check.status === 401) {
      box.querySelector(".form-error").hidden = false;
      form.elements.token.select();
      return;
    }
    location.assign("/?token=" + encodeURIComponent(token));
  });
}
