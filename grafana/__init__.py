"""Grafana dashboards generated from Python panel definitions, and their provisioning files.

`panels.py` says what a panel is, `dashboards.py` defines the six dashboards, `render.py` turns
them into Grafana's JSON model and writes provisioning (`rayscope metrics grafana-config`).
"""
