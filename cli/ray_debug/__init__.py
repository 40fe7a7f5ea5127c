"""`ray-debug`: the terminal side of the Rayscope debugger (list, attach, forward)."""
