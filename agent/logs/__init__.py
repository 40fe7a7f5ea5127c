"""Log file tailing (shared by the log stream and the export-event stream)."""
