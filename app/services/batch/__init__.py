"""The batch pipeline: submission, staging, submit, tracking, ingestion, status and actions."""
