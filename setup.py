"""Packages: afa_cli, and the top-level conf/ folder installed as afa_cli.conf with its YAML files
(pyproject.toml's package discovery cannot map a folder to another package name)."""

from setuptools import find_namespace_packages, find_packages, setup

# Each group folder is a package of its own, so that its YAML files are its package data.
CONF_PACKAGES = ["afa_cli.conf", *(f"afa_cli.conf.{group}" for group in
                                   find_namespace_packages("conf", exclude=["*__pycache__*"]))]

setup(packages=[*find_packages(include=["afa_cli*"]), *CONF_PACKAGES],
      package_dir={"afa_cli.conf": "conf"},
      package_data={package: ["*.yaml"] for package in CONF_PACKAGES})
