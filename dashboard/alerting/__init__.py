"""The head's own alert evaluator (issue 15; docs/alerts.md): the rules of alerts/rules.py judged from the
head's store for clusters without Prometheus. conditions.py: one condition per rule; machine.py: the
pending -> firing -> resolved state machine; evaluator.py: the loop; alertmanager.py: delivery."""
