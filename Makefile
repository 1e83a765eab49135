# hwq: one entry point for set-up, demo, tests and benchmarks.
# Fresh Debian machine, as root:   make demo   (installs everything, runs the demo)
#                                  make test   (installs everything, runs every test)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HWQ    := $(VENV)/bin/hwq
# Debian packages the back ends need (see shared notes/toolchains.md): Icarus Verilog for
# cocotb, AArch64 and bare-metal Arm cross compilers, qemu user and system emulators.
# libc6-dev-arm64-cross is only a Recommends of the cross gcc, and -static builds need it.
APT_PACKAGES := iverilog gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user \
                gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm

.PHONY: all system install demo test bench examples clean

all: test

system:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "installing system tools: $(APT_PACKAGES)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: system $(VENV)/.installed

demo: install
	$(PY) examples/demo.py

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) bench/run_all.py --blas-threads 1

# Regenerate the shipped example models (deterministic; a few minutes on 2 cores).
examples: install
	$(PY) examples/make_examples.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
