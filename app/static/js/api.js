// Small fetch wrapper for the JSON API: errors become ApiError, the optional API token is sent.
const TOKEN_KEY = "mediaLibrary.apiToken";

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
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) h.Authorization = `Bearer ${token}`;
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
    if (response.status === 401 && askForToken(error.message)) {
      return request(method, url, body);
    }
    throw new ApiError(response.status, error.code || `http_${response.status}`,
      error.message || `${method} ${url} failed with HTTP ${response.status}`, error.details);
  }
  return data;
}

function askForToken(message) {
  const token = window.prompt(`${message || "This action needs the API token."}\nAPI token:`);
  if (!token) return false;
  localStorage.setItem(TOKEN_KEY, token.trim());
  return true;
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
