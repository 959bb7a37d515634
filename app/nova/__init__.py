"""Nova models and prices, prompts, request bodies, and validation of model output (see docs/analysis-contract.md)."""
