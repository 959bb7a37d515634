// Small fetch wrapper for the JSON API: errors become ApiError. With API_TOKEN set, the browser is signed in
// by an HttpOnly cookie (the sign-in page); a 401 means it ran out, so the page goes to sign in again.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }

  // A route that does not exist (yet) answers with Flask's generic not_found code.
  get missingEndpoint() {
    return (this.status === 404 && this.code === "not_found") || this.status === 405;
  }
}

function headers(json) {
  const h = { Accept: "application/json" };
  if (json) h["Content-Type"] = "application/json";
  return h;
}

async function request(method, url, body) {
  const sendsBody = method !== "GET" && method !== "DELETE";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: headers(sendsBody),
      body: sendsBody ? JSON.stringify(body ?? {}) : undefined,
      credentials: "same-origin",
    });
  } catch (err) {
    throw new ApiError(0, "network_error", "The server could not be reached. Is the app still running?");
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    if (response.status === 401) signInAgain();
    throw new ApiError(response.status, error.code || `http_${response.status}`,
      error.message || `${method} ${url} failed with HTTP ${response.status}`, error.details);
  }
  return data;
}

function signInAgain() {
  location.assign(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
}

export const api = {
  get: (url) => request("GET", url),
  post: (url, body) => request("POST", url, body),
  del: (url) => request("DELETE", url),
};

// "path?a=1&b=2" from an object, skipping empty values.
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}
