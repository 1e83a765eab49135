"""One module per back-end subcommand (estimate, gen-c, gen-rtl, simulate); `hwq.cli` registers them."""
