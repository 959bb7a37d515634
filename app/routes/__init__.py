"""Blueprints: thin HTTP layers over the services. The factory registers every module listed here."""

# One module per line, each with a Blueprint named `bp`; pages last (its routes are the least specific).
BLUEPRINT_MODULES = (
    "files",
    "tasks",
    "nova",
    "batch",
    "poller",
    "reports",
    "search",
    "usage",
    "folders",
    "embeddings",
    "transcripts",
    "pages",
)
