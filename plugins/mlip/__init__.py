"""Interatomic potentials on GFN2-xTB-labelled molecules (:mod:`symco.plugins.mlip`)."""
