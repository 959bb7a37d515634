"""Serve the app on HOST:PORT (default http://127.0.0.1:5800)."""
from app import create_app, start_background


def main() -> None:
    app = create_app()
    settings = app.config["SETTINGS"]
    start_background(app)
    print(f"Serving on http://{'localhost' if settings.HOST.startswith('127.') else settings.HOST}:{settings.PORT}")
    # No reloader: it would fork a second process running its own background threads.
    app.run(host=settings.HOST, port=settings.PORT, debug=False, use_reloader=False, threaded=True)


if __name__ == "__main__":
    main()
