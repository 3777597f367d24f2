"""The browser page (HTML, CSS, JavaScript), shipped as the data-only package ``c4actors.www``.

This file only makes the folder a regular package, so that both a wheel and an editable
install can locate it (see ``[tool.setuptools.package-dir]`` in pyproject.toml); nothing
imports it.
"""
