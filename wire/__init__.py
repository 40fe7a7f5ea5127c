"""The agent↔head wire schema (`rayscope_ingest.proto`) and its generated module."""
