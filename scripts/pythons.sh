# Sourced by setup.sh and test.sh: the test matrix's Pythons (3.11, 3.12, 3.13).
# Each is PYCTR_PYTHON3X if set, else python3.X on PATH, else the newest of the
# machine's pyenv builds (~/.pyenv/versions/3.X.*, not on PATH); it is exported
# as PYCTR_PYTHON3X for tox.ini's base_python. Debian 12 packages only 3.11 and
# nothing on these machines can download CPython, so a missing one is reported
# (the tox legs that need it then fail), not built.
pyctr_find_pythons() {
  local v var found
  for v in 11 12 13; do
    var=PYCTR_PYTHON3$v
    found=${!var:-}
    # (a pyenv shim on PATH exists for every version but runs only the selected ones)
    if [ -z "$found" ] && "python3.$v" -c '' 2>/dev/null; then found=$(command -v "python3.$v"); fi
    [ -n "$found" ] || found=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.$v.*/bin/python3.$v 2>/dev/null \
      | sort -V | tail -n1 || true)
    if [ -n "$found" ]; then
      export "$var=$found"
    else
      echo "no Python 3.$v for the unit-py3$v and host-py3$v legs: install one (pyenv install 3.$v) or set $var" >&2
    fi
  done
}
