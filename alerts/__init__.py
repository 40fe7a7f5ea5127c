"""Alert rules for Ray clusters, defined once (rules.py) and read by every consumer: the Prometheus rule
file and Grafana provisioning that the CLI exports, and the head's own evaluator.

Standard library only (tests/test_import_boundaries.py), so the CLI and the head can both import it.
"""
