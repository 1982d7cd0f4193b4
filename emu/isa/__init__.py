"""The opcode table: one row per instruction form (see table.py)."""
