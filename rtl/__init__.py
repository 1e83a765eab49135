"""Amaranth designs of the EIE-style accelerator (filled in by the gen-rtl issue)."""
