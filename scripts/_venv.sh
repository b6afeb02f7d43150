# Sourced by the run and test commands: a virtualenv in .venv with requirements.txt installed (again only
# when requirements.txt changes).
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
_sum=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat .venv/.requirements.sha 2>/dev/null)" != "$_sum" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$_sum" > .venv/.requirements.sha
fi
export PATH="$PWD/.venv/bin:$PATH"
