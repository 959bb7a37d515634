// Sign in: post the token as JSON to /api/session, which sets an HttpOnly cookie; then go where the server
// says (it accepts only a path on this site). Sign out: drop the cookie, and any token api.js remembered.
const TOKEN_KEY = "mediaLibrary.apiToken";

async function signIn(event) {
  event.preventDefault();
  const input = document.getElementById("signin-token");
  const error = document.getElementById("signin-error");
  const button = document.getElementById("signin-submit");
  error.textContent = "";
  button.disabled = true;
  try {
    const wanted = new URLSearchParams(window.location.search).get("next") || "/files";
    const response = await fetch("/api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ token: input.value.trim(), next: wanted }),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => null);
    const next = data && typeof data.next === "string" ? data.next : "";
    if (response.ok && next.startsWith("/") && !next.startsWith("//")) { // the server checked it too
      window.location.assign(next);
      return;
    }
    error.textContent = (data && data.error && data.error.message) || `Sign-in failed (HTTP ${response.status}).`;
    input.select();
  } catch (err) {
    error.textContent = "The server could not be reached. Is the app still running?";
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  localStorage.removeItem(TOKEN_KEY);
  try {
    await fetch("/api/session", { method: "DELETE", credentials: "same-origin" });
  } finally {
    window.location.assign("/signin");
  }
}

const form = document.getElementById("signin-form");
if (form) form.addEventListener("submit", signIn);
const signOutButton = document.getElementById("sign-out");
if (signOutButton) signOutButton.addEventListener("click", signOut);
