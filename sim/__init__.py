"""cocotb testbenches and runner glue (filled in by the simulate issue)."""
