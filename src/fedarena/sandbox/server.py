"""Imported first by the fork server (``fedarena.sandbox.process``): it dies with the process
that started it, so that a ``kill -9`` of ``fedarena matrix`` leaves no fork server behind
(its workers then die with it, as they die with their parent)."""

from fedarena.sandbox.lifetime import die_with_parent

die_with_parent()
