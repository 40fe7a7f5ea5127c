"""The size limits of the agent↔head wire: one definition, read by both ends.

Why here: the limit is part of the contract in `rayscope_ingest.proto`. The head's gRPC server
refuses a message over `MAX_MESSAGE_BYTES`; a batch it refuses would be resent forever while
everything spooled behind it waits, so the agent must never build one. Every other size on the
agent's side is derived from it:

- a batch's spooled part (log lines, export events, drop reports, log-file descriptions) is at
  most `SPOOLED_BATCH_BYTES` (measured with `ByteSize()`; a larger one is split into several);
- the samples and snapshots attached to it at send time get the rest, `ATTACHED_BYTES` (a
  snapshot larger than that is cut, and the cut reported);
- one item (a log line, an export event) is at most `MAX_ITEM_BYTES`: longer ones are cut with a
  marker and reported, so an item always fits in a batch.
"""
from __future__ import annotations

MAX_MESSAGE_BYTES = 16 << 20
"""The largest `AgentMessage`/`HeadMessage` either end sends or accepts (gRPC max message size)."""

ENVELOPE_BYTES = 64 << 10
"""Room for the message framing and the batch's own fields (seq, created_at), with slack."""

SPOOLED_BATCH_BYTES = (MAX_MESSAGE_BYTES - ENVELOPE_BYTES) // 2
"""The spooled part of one batch: what the agent appends to its spool as one record."""

ATTACHED_BYTES = MAX_MESSAGE_BYTES - ENVELOPE_BYTES - SPOOLED_BATCH_BYTES
"""Samples and snapshots attached to a batch when it is sent (agent/volatile.py)."""

MAX_ITEM_BYTES = 1 << 20
"""One export event (its JSON line) or log line at most; bigger ones are cut, never sent whole."""

assert MAX_ITEM_BYTES * 4 <= SPOOLED_BATCH_BYTES, "an item must fit in a batch with room to spare"


def grpc_options() -> list[tuple[str, int]]:
    """The size options of every channel and server of the ingest service (both ends)."""
    return [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
