"""Blueprints: thin HTTP layers over the services."""
