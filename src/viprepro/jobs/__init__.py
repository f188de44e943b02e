"""What every pipeline job shares: its start (environment, seeds, determinism), MLflow tracking, provenance."""
